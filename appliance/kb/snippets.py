"""Search snippets: a window of an article's plain text around the query's matches, escaped,
with the matches in ``<mark>``. Built from the stored plain text, never from its HTML, so the
only markup in a snippet is ours.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from appliance.kb.tokens import CJK, normalize, query_tokens, runs, word_token

WIDTH = 160
# Snippets look at the start of long articles only (their cost stays flat).
SCAN = 20000
MAX_MARKS = 200
_ALL_CJK = re.compile(f"[{CJK}]+")


def matches(text: str, tokens: set[str]) -> list[tuple[int, int]]:
    """Where ``text`` holds one of ``tokens`` (merged, in order): CJK characters or bigrams
    that are one, whole words whose stem is one. A regular expression finds the candidates
    (the CJK tokens themselves, words starting as a stem does), the tokenizer confirms the
    words: the whole text is never tokenized again."""
    cjk = sorted((t for t in tokens if _ALL_CJK.fullmatch(t)), key=len, reverse=True)
    stems = [t for t in tokens if not _ALL_CJK.fullmatch(t)]
    parts = []
    if cjk:
        parts.append("(?P<cjk>" + "|".join(map(re.escape, cjk)) + ")")
    if stems:
        prefixes = sorted({s[: max(3, len(s) - 1)] for s in stems}, key=len, reverse=True)
        parts.append(rf"(?P<word>(?:{'|'.join(map(re.escape, prefixes))})[^\W_]*)")
    if not parts:
        return []
    found: list[tuple[int, int]] = []
    for m in re.finditer("|".join(parts), text, re.IGNORECASE):
        start, end = m.span()
        word = m.group("word") if stems else None
        if word is not None:
            if start > 0 and _in_word(text[start - 1]):
                continue  # the middle of a word
            first = next(runs(word))  # a word stops where CJK starts
            end = start + first.end
            if word_token(normalize(first.text)) not in tokens:
                continue
        found.append((start, end))
        if len(found) >= MAX_MARKS:
            break
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _in_word(char: str) -> bool:
    return char.isalnum() and not _ALL_CJK.match(char)


def _window(marks: list[tuple[int, int]], length: int, width: int) -> tuple[int, int]:
    if not marks:
        return 0, min(length, width)
    best, best_count = 0, -1
    for first, _ in marks:
        start = max(0, first - width // 4)
        count = sum(1 for s, e in marks if s >= start and e <= start + width)
        if count > best_count:
            best, best_count = start, count
    return best, min(length, best + width)


def highlight(text: str, query: str, width: int = WIDTH) -> Markup:
    """The snippet of ``text`` for ``query``: about ``width`` characters, escaped, matches in
    ``<mark>``, "…" where text was cut."""
    text = text[:SCAN]
    marks = matches(text, set(query_tokens(query)))
    start, end = _window(marks, len(text), width)
    for s, e in marks:  # never cut a match in half
        if s < end < e:
            end = e
    out = [Markup("…")] if start > 0 else []
    at = start
    for s, e in marks:
        if e <= start or s >= end:
            continue
        s = max(s, start)
        out.append(escape(_flat(text[at:s])))
        out.append(Markup("<mark>") + escape(_flat(text[s:e])) + Markup("</mark>"))
        at = e
    out.append(escape(_flat(text[at:end])))
    if end < len(text):
        out.append(Markup("…"))
    return Markup("").join(out)


def _flat(text: str) -> str:
    return text.replace("\n", " ")
