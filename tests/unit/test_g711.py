"""G.711 on both implementations: ITU vectors, the stdlib C codec, and round trips."""

from __future__ import annotations

import array
import importlib
import itertools
import os
import random
import subprocess
import sys
import warnings
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the C reference (stdlib up to 3.12; audioop-lts after)

IMPLEMENTATIONS = ["drivers.audio._g711_py", "drivers.audio._g711_c"]


@pytest.fixture(params=IMPLEMENTATIONS, ids=["python", "cython"])
def g711(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def pcm(*samples: int) -> bytes:
    return array.array("h", samples).tobytes()


def samples(data: bytes) -> list[int]:
    return list(array.array("h", data))


# ITU-T G.711 Table 2a/2b (mu-law): per segment, the transmitted character of its first and
# last step and the decoder output value, in the standard's units (magnitude 0..8031). The
# reference code (Sun/CCITT, audioop, Asterisk) scales them by 4 to 16 bits. mu-law inverts
# every bit on the line: positive values run from 0xFF (zero) down to 0x80 (the largest).
ULAW_SCALE = 4
ULAW_TABLE = [  # per segment: (first character, output), (last character, output); positive
    ((0xFF, 0), (0xF0, 30)),
    ((0xEF, 33), (0xE0, 93)),
    ((0xDF, 99), (0xD0, 219)),
    ((0xCF, 231), (0xC0, 471)),
    ((0xBF, 495), (0xB0, 975)),
    ((0xAF, 1023), (0xA0, 1983)),
    ((0x9F, 2079), (0x90, 3999)),
    ((0x8F, 4191), (0x80, 8031)),
]
# ITU-T G.711 Table 1a/1b (A-law): magnitude 1..4032, scaled by 8 to 16 bits. A-law inverts
# the even bits on the line (XOR 0x55): positive values run from 0xD5 (the smallest) to 0xAA.
ALAW_SCALE = 8
ALAW_TABLE = [
    ((0xD5, 1), (0xDA, 31)),
    ((0xC5, 33), (0xCA, 63)),
    ((0xF5, 66), (0xFA, 126)),
    ((0xE5, 132), (0xEA, 252)),
    ((0x95, 264), (0x9A, 504)),
    ((0x85, 528), (0x8A, 1008)),
    ((0xB5, 1056), (0xBA, 2016)),
    ((0xA5, 2112), (0xAA, 4032)),
]
# The corners of the code space (0x00, 0x7F, 0x80, 0xFF), as 16-bit output.
ULAW_CORNERS = {0x00: -32124, 0x7F: 0, 0x80: 32124, 0xFF: 0}
ALAW_CORNERS = {0x00: -5504, 0x7F: -848, 0x80: 5504, 0xFF: 848}

Table = list[tuple[tuple[int, int], tuple[int, int]]]


def both_signs(table: Table, scale: int) -> dict[int, int]:
    """The table's positive characters and their negative twins (the sign bit flipped)."""
    out = {}
    for segment in table:
        for code, value in segment:
            out[code] = value * scale
            out[code ^ 0x80] = -value * scale
    return out


ULAW_VECTORS = both_signs(ULAW_TABLE, ULAW_SCALE) | ULAW_CORNERS
ALAW_VECTORS = both_signs(ALAW_TABLE, ALAW_SCALE) | ALAW_CORNERS

# Encoding: the standard's decision value where each segment starts (mu-law in units of the
# 14-bit magnitude, A-law of the 13-bit one) with the characters of that segment's first
# step and of the previous segment's last. Scaled to 16 bits; the reference drops the low
# bits by an arithmetic shift (floor), so a negative sample sits one unit further out:
# -4d and -4d+4 for mu-law, -8d-1 and -8d for A-law.
ULAW_DECISIONS = [
    (31, 0xEF, 0xF0),
    (95, 0xDF, 0xE0),
    (223, 0xCF, 0xD0),
    (479, 0xBF, 0xC0),
    (991, 0xAF, 0xB0),
    (2015, 0x9F, 0xA0),
    (4063, 0x8F, 0x90),
]
ALAW_DECISIONS = [
    (32, 0xC5, 0xDA),
    (64, 0xF5, 0xCA),
    (128, 0xE5, 0xFA),
    (256, 0x95, 0xEA),
    (512, 0x85, 0x9A),
    (1024, 0xB5, 0x8A),
    (2048, 0xA5, 0xBA),
]


def ulaw_encode_vectors() -> dict[int, int]:
    out = {0: 0xFF, 3: 0xFF, 4: 0xFE, -1: 0x7E, -4: 0x7E}
    for d, start, below in ULAW_DECISIONS:
        out[4 * d], out[4 * d - 1] = start, below
        out[-4 * d], out[-4 * d + 4] = start ^ 0x80, below ^ 0x80
    # the last decision value (7903: output 8031), the clip at 8159 and the 16-bit extremes
    out |= {4 * 7903: 0x80, 4 * 7903 - 1: 0x81, 4 * 8159: 0x80, 32767: 0x80}
    out |= {-4 * 7903: 0x00, -4 * 7903 + 4: 0x01, -4 * 8159: 0x00, -32768: 0x00}
    return out


def alaw_encode_vectors() -> dict[int, int]:
    out = {0: 0xD5, 15: 0xD5, 16: 0xD4, -1: 0x55, -16: 0x55, -17: 0x54}
    for d, start, below in ALAW_DECISIONS:
        out[8 * d], out[8 * d - 1] = start, below
        out[-8 * d - 1], out[-8 * d] = start ^ 0x80, below ^ 0x80
    # the top step (output 4032 from 3968 on) and the extremes: no clip inside 16 bits
    out |= {8 * 3968: 0xAA, 8 * 3968 - 1: 0xAB, 32767: 0xAA, -32768: 0x2A}
    return out


def test_ulaw_decodes_the_itu_table(g711: ModuleType) -> None:
    assert len(ULAW_VECTORS) == 32  # 8 segments x 2 ends x 2 signs (0x7F: the negative zero)
    for code, value in ULAW_VECTORS.items():
        assert samples(g711.ulaw_decode(bytes([code]))) == [value], hex(code)


def test_alaw_decodes_the_itu_table(g711: ModuleType) -> None:
    assert len(ALAW_VECTORS) == 36
    for code, value in ALAW_VECTORS.items():
        assert samples(g711.alaw_decode(bytes([code]))) == [value], hex(code)


def test_each_segment_steps_by_the_itu_interval(g711: ModuleType) -> None:
    # mu-law: 2, 4, ..., 256 units a step; A-law: 2, 2, 4, ..., 128 (times the scale)
    for seg, ((first, _), _) in enumerate(ULAW_TABLE):
        out = samples(g711.ulaw_decode(bytes(range(first, first - 16, -1))))
        assert {b - a for a, b in itertools.pairwise(out)} == {ULAW_SCALE * (2 << seg)}, seg
    for seg, ((first, _), _) in enumerate(ALAW_TABLE):
        codes = bytes((0x80 | seg << 4 | m) ^ 0x55 for m in range(16))
        assert codes[0] == first
        out = samples(g711.alaw_decode(codes))
        step = ALAW_SCALE * (2 << max(seg - 1, 0))
        assert {b - a for a, b in itertools.pairwise(out)} == {step}, seg


def test_alaw_even_bit_inversion(g711: ModuleType) -> None:
    # Undoing the line's XOR 0x55 gives sign and magnitude in order: (0x80 | k) ^ 0x55 counts
    # up from the smallest positive value, k ^ 0x55 down from the smallest negative one.
    positive = samples(g711.alaw_decode(bytes((0x80 | k) ^ 0x55 for k in range(128))))
    negative = samples(g711.alaw_decode(bytes(k ^ 0x55 for k in range(128))))
    assert positive == sorted(set(positive)) and positive[0] == 8
    assert negative == [-v for v in positive]
    raw = samples(g711.alaw_decode(bytes(range(0x80, 0x100))))
    assert raw != sorted(raw)  # the characters as sent are not in order


def test_ulaw_encodes_the_itu_decision_values(g711: ModuleType) -> None:
    vectors = ulaw_encode_vectors()
    got = g711.ulaw_encode(pcm(*vectors))
    assert {s: hex(c) for s, c in zip(vectors, got, strict=True)} == {
        s: hex(c) for s, c in vectors.items()
    }


def test_alaw_encodes_the_itu_decision_values(g711: ModuleType) -> None:
    vectors = alaw_encode_vectors()
    got = g711.alaw_encode(pcm(*vectors))
    assert {s: hex(c) for s, c in zip(vectors, got, strict=True)} == {
        s: hex(c) for s, c in vectors.items()
    }


def test_the_vectors_agree_with_the_c_reference() -> None:
    # the tables above are the standard's, which audioop implements too
    for code, value in ULAW_VECTORS.items():
        assert samples(audioop.ulaw2lin(bytes([code]), 2)) == [value], hex(code)
    for code, value in ALAW_VECTORS.items():
        assert samples(audioop.alaw2lin(bytes([code]), 2)) == [value], hex(code)
    for sample, code in ulaw_encode_vectors().items():
        assert audioop.lin2ulaw(pcm(sample), 2) == bytes([code]), sample
    for sample, code in alaw_encode_vectors().items():
        assert audioop.lin2alaw(pcm(sample), 2) == bytes([code]), sample


def test_decoders_match_the_c_reference_on_every_code(g711: ModuleType) -> None:
    every = bytes(range(256))
    assert g711.ulaw_decode(every) == audioop.ulaw2lin(every, 2)
    assert g711.alaw_decode(every) == audioop.alaw2lin(every, 2)


def test_encoders_match_the_c_reference_on_every_sample(g711: ModuleType) -> None:
    every = array.array("h", range(-32768, 32768)).tobytes()
    assert g711.ulaw_encode(every) == audioop.lin2ulaw(every, 2)
    assert g711.alaw_encode(every) == audioop.lin2alaw(every, 2)


def test_decode_then_encode_is_identity_on_canonical_codes(g711: ModuleType) -> None:
    # 0x7F (negative zero) encodes back as 0xFF; every other mu-law code round-trips.
    codes = bytes(c for c in range(256) if c != 0x7F)
    assert g711.ulaw_encode(g711.ulaw_decode(codes)) == codes
    every = bytes(range(256))
    assert g711.alaw_encode(g711.alaw_decode(every)) == every
    # the two mu-law zeros both decode to 0, which encodes as the positive zero, as in C
    zeros = g711.ulaw_decode(b"\x7f\xff")
    assert zeros == bytes(4)
    assert g711.ulaw_encode(zeros) == b"\xff\xff" == audioop.lin2ulaw(zeros, 2)


def test_encode_then_decode_lands_on_a_fixed_point(g711: ModuleType) -> None:
    # every 16-bit sample maps to a step's output value, which encodes to the same code again
    every = array.array("h", range(-32768, 32768)).tobytes()
    for encode, decode in (
        (g711.ulaw_encode, g711.ulaw_decode),
        (g711.alaw_encode, g711.alaw_decode),
    ):
        codes = encode(every)
        assert encode(decode(codes)) == codes


def test_the_kernel_equals_the_reference_on_every_input() -> None:
    # the Cython encoder is a 64K-entry table built from the reference: bit for bit the same
    py, c = (importlib.import_module(m) for m in IMPLEMENTATIONS)
    every = array.array("h", range(-32768, 32768)).tobytes()
    assert c.ulaw_encode(every) == py.ulaw_encode(every)
    assert c.alaw_encode(every) == py.alaw_encode(every)
    codes = bytes(range(256))
    assert c.ulaw_decode(codes) == py.ulaw_decode(codes)
    assert c.alaw_decode(codes) == py.alaw_decode(codes)
    # unaligned input (a slice one byte in) and a length that is not a multiple of anything
    odd = memoryview(b"\0" + every)[1:]
    assert c.ulaw_encode(odd[: 2 * 4099]) == py.ulaw_encode(every[: 2 * 4099])


def test_empty_and_odd_input(g711: ModuleType) -> None:
    assert g711.ulaw_decode(b"") == b""
    assert g711.ulaw_encode(b"") == b""
    with pytest.raises(ValueError, match="even number of bytes"):
        g711.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="even number of bytes"):
        g711.alaw_encode(b"\x00")


def test_accepts_any_bytes_like(g711: ModuleType) -> None:
    data = bytes(range(16))
    assert g711.ulaw_decode(bytearray(data)) == g711.ulaw_decode(memoryview(data))


@given(st.binary(max_size=2048))
def test_both_implementations_agree_on_random_input(data: bytes) -> None:
    py, c = (importlib.import_module(m) for m in IMPLEMENTATIONS)
    assert py.ulaw_decode(data) == c.ulaw_decode(data)
    assert py.alaw_decode(data) == c.alaw_decode(data)
    even = data[: len(data) // 2 * 2]
    assert py.ulaw_encode(even) == c.ulaw_encode(even)
    assert py.alaw_encode(even) == c.alaw_encode(even)


def test_quantization_error_is_bounded_on_a_random_signal() -> None:
    from drivers.audio import g711

    rng = random.Random(7)
    sig = [rng.randint(-30000, 30000) for _ in range(4000)]
    back = samples(g711.ulaw_decode(g711.ulaw_encode(pcm(*sig))))
    for x, y in zip(sig, back, strict=True):
        # the reference truncates to the segment step: at most one step, <= 1/8 of x
        assert abs(x - y) <= max(32, abs(x) // 8)


def test_the_selector_honours_the_pure_python_switch() -> None:
    code = "from drivers.audio import g711; print(g711.IMPLEMENTATION)"
    env = {**os.environ, "CCBOX_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "python"
    env.pop("CCBOX_PURE_PYTHON")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "cython"  # the build must have produced the extension
