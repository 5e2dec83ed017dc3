"""Search tokens for Chinese and English, made in Python so both databases index and match
exactly the same strings.

Chinese has no spaces between words: a run of CJK characters is indexed as its overlapping
character bigrams and its single characters (``退款流程`` -> 退 退款 款 款流 流 流程 程); a
query of two or more characters asks for its bigrams (all of them: the phrase's pieces), a
one-character query for the character. Any other run of letters and digits is one word,
NFKC-normalized (full-width letters become ASCII), casefolded and stemmed by Snowball's
English stemmer (``refunds`` -> ``refund``). Tokens are letters and digits only, separated
by single spaces: SQLite's unicode61 tokenizer and PostgreSQL's ``simple`` configuration
both see exactly these tokens and nothing else.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import snowballstemmer  # type: ignore[import-untyped]

# A document indexes at most this many tokens (PostgreSQL keeps positions up to 16383:
# beyond that the two databases would count differently).
MAX_TOKENS = 16000
# Longer words are cut (PostgreSQL skips words over 2047 bytes; nobody searches for one).
MAX_WORD = 40
# A query uses at most this many tokens.
MAX_QUERY_TOKENS = 32

CJK = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u3100-\u312f"
    "\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
# (a character class's inside: the CJK ideographs, kana and hangul)
# One match per run: a run of CJK characters, or a word of other letters and digits.
_RUN = re.compile(rf"(?P<cjk>[{CJK}]+)|(?P<word>(?:(?![{CJK}])[^\W_])+)")
_STEMMER = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    if word.isascii() and word.isalpha() and len(word) > 3:
        return str(_STEMMER.stemWord(word))
    return word


def normalize(text: str) -> str:
    """NFKC (full-width forms to ASCII, compatibility characters to their plain ones) and
    casefolded: the text tokens and snippets are cut from."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Span:
    """A run's place in the normalized text and what it is: "cjk" or "word"."""

    start: int
    end: int
    kind: str
    text: str


def runs(normalized: str) -> Iterator[Span]:
    """The CJK runs and words of normalized text, in order, with their places."""
    for m in _RUN.finditer(normalized):
        kind = "cjk" if m.group("cjk") else "word"
        yield Span(m.start(), m.end(), kind, m.group())


def word_token(word: str) -> str:
    return _stem(word[:MAX_WORD])


def document_tokens(text: str) -> list[str]:
    """What a document is indexed as: every CJK character and bigram, every word's stem
    (at most MAX_TOKENS, in order)."""
    out: list[str] = []
    for span in runs(normalize(text)):
        if span.kind == "word":
            out.append(word_token(span.text))
        else:
            run = span.text
            for i, ch in enumerate(run):
                out.append(ch)
                if i + 1 < len(run):
                    out.append(run[i : i + 2])
        if len(out) >= MAX_TOKENS:
            return out[:MAX_TOKENS]
    return out


def query_tokens(text: str) -> list[str]:
    """What a query asks for (every token must be in a match): a CJK run's bigrams (its
    single character when it has one), each word's stem; duplicates dropped, in order."""
    out: list[str] = []
    for span in runs(normalize(text)):
        if span.kind == "word":
            out.append(word_token(span.text))
        elif len(span.text) == 1:
            out.append(span.text)
        else:
            out.extend(span.text[i : i + 2] for i in range(len(span.text) - 1))
    return list(dict.fromkeys(out))[:MAX_QUERY_TOKENS]


def token_text(text: str) -> str:
    """The document's tokens as the stored token text (single spaces between them)."""
    return " ".join(document_tokens(text))
