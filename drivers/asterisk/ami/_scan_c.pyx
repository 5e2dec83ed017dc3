# cython: language_level=3
"""Finding AMI messages in a byte buffer, in one pass of C: see ``_scan_py`` (same
contract, held equal by the tests)."""

from libc.string cimport memchr, memcmp


cdef inline bint _is_space(unsigned char c):
    return c == 32 or c == 9 or c == 10 or c == 13 or c == 11 or c == 12


def scan(bytes buf, wanted, Py_ssize_t limit):
    cdef const unsigned char* p = buf
    cdef Py_ssize_t n = len(buf)
    cdef Py_ssize_t start = 0, i, j, mstart, bstart, bend, term_len = 0, name_end
    cdef Py_ssize_t skipped = 0
    cdef bint has_action_id, is_event, blank
    cdef const unsigned char* hit
    cdef list blocks = []
    cdef bytes name
    i = 0
    # One message per turn: walk its line ends until a blank line.
    while True:
        has_action_id = False
        j = start
        bend = -1
        while j < n:
            hit = <const unsigned char*>memchr(p + j, 10, n - j)
            if hit == NULL:
                break
            j = hit - p
            if j + 1 < n and p[j + 1] == 10:
                bend = j
                term_len = 2
                break
            if j + 2 < n and p[j + 1] == 13 and p[j + 2] == 10:
                bend = j
                term_len = 3
                break
            if j + 2 >= n and (j + 1 >= n or p[j + 1] == 13):
                break  # the line after this one is not here yet: wait for more
            if n - j > 10 and memcmp(p + j + 1, b"ActionID: ", 10) == 0:
                has_action_id = True
            j += 1
        if bend < 0:
            return blocks, start, skipped, 0
        mstart = bstart = start
        start = bend + term_len
        while bstart < bend and (p[bstart] == 10 or p[bstart] == 13):
            bstart += 1
        if bend > bstart and p[bend - 1] == 13:
            bend -= 1
        if bend <= bstart:
            continue
        blank = True
        for i in range(bstart, bend):
            if not _is_space(p[i]):
                blank = False
                break
        if blank:
            continue
        if bend - bstart > limit:
            return blocks, mstart, skipped, bend - bstart
        if wanted is not None and not has_action_id and bend - bstart >= 7 \
                and memcmp(p + bstart, b"Event: ", 7) == 0:
            hit = <const unsigned char*>memchr(p + bstart, 10, bend - bstart)
            name_end = (hit - p) if hit != NULL else bend
            if name_end > bstart + 7 and p[name_end - 1] == 13:
                name_end -= 1
            name = buf[bstart + 7:name_end]
            if name not in wanted:
                skipped += 1
                continue
        blocks.append(buf[bstart:bend])


cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)


cdef inline object _text(const char* s, Py_ssize_t size, bint has_nul):
    cdef object text = PyUnicode_DecodeUTF8(s, size, "replace")
    if has_nul and memchr(s, 0, size) != NULL:
        text = text.replace("\x00", "\ufffd")
    return text


def split_headers(bytes block, Py_ssize_t max_headers):
    cdef const char* p = block
    cdef Py_ssize_t n = len(block)
    cdef Py_ssize_t ls = 0, le, ve, colon, vs, count = 0, bad = 0
    cdef const char* hit
    cdef const char* c
    cdef bint has_nul = memchr(p, 0, n) != NULL
    cdef list out = []
    while True:
        hit = <const char*>memchr(p + ls, 10, n - ls)
        le = (hit - p) if hit != NULL else n
        ve = le
        if ve > ls and p[ve - 1] == 13:
            ve -= 1
        if ve > ls:
            c = <const char*>memchr(p + ls, 58, ve - ls)
            if c == NULL or c == p + ls:
                bad += 1
            elif count >= max_headers:
                bad += 1
            else:
                colon = c - p
                vs = colon + 1
                if vs < ve and p[vs] == 32:
                    vs += 1
                out.append((_text(p + ls, colon - ls, has_nul), _text(p + vs, ve - vs, has_nul)))
                count += 1
        if hit == NULL:
            break
        ls = le + 1
    return tuple(out), bad
