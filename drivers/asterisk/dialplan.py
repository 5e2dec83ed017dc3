"""Asterisk's dialplan as data: extension patterns and the ``extensions.conf`` lines ccbox writes.

Two jobs, both as Asterisk 22 does them (main/pbx.c, default matching, i.e.
``extenpatternmatchnew = no``), so that the simulator routes Originate, Redirect and the
dialplan's own Goto exactly where the real switch would, and refuses what it refuses:

- ``matches(pattern, exten)``: a literal extension matches only itself (``-`` is ignored on
  both sides); a pattern starts with ``_`` and is read one position at a time: ``X`` 0-9,
  ``Z`` 1-9, ``N`` 2-9, ``[...]`` a set (ranges ``a-c`` and single characters), ``.`` one or
  more characters of anything, ``!`` zero or more, any other character itself. So ``_X.``
  needs at least two characters (``1`` does not match it), ``_X!`` one or more, ``_X`` one.
- ``Dialplan.find(context, exten, priority)``: a context's extensions are tried in Asterisk's
  sort order (``extension_order``): literal extensions before patterns, then patterns
  position by position, the smaller character set first (``1`` before ``N`` before ``Z``
  before ``X`` before ``.`` before ``!``), a shorter pattern before a longer one that
  continues it; the first that matches and has the priority wins. The context's
  ``include =>`` contexts are searched after its own extensions, in order.
- ``parse(text)``: ``[context]``, ``exten => name,priority[(label)],App(args)``, ``same =>``
  with ``n`` / ``n(label)`` / numbers, ``include =>``, ``;`` comments. Everything else
  (templates, ``#include``, ``switch =>``, caller-id matches, hints) is refused with the line
  number: the simulator would not know what Asterisk makes of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cmp_to_key

# The score of one pattern position (pbx.c, ext_cmp_pattern_pos): bits 8-15 count the
# characters of the set, bits 0-7 hold its lowest character; the wildcards and the end of
# the pattern score above every set.
_DOT, _BANG, _END = 0x18000, 0x28000, 0x30000
_SETS = {"N": "23456789", "X": "0123456789", "Z": "123456789"}


class DialplanError(ValueError):
    """A dialplan text or pattern the simulator cannot read as Asterisk would."""


def is_pattern(exten: str) -> bool:
    return exten.startswith("_")


def _set_chars(body: str) -> set[str]:
    """The characters of a ``[...]`` set body: ``a-c`` is a range only with a char after it."""
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.add(body[i])
            i += 1
    return chars


def _positions(pattern: str) -> list[tuple[int, frozenset[str]]]:
    """``pattern`` without its ``_``, as (score, characters) per position, ending in _END."""
    out: list[tuple[int, frozenset[str]]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "-":
            continue
        if c == ".":
            out.append((_DOT, frozenset()))
        elif c == "!":
            out.append((_BANG, frozenset()))
        elif c.upper() in _SETS:
            chars = frozenset(_SETS[c.upper()])
            out.append((len(chars) << 8 | ord(min(chars)), chars))
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise DialplanError(f"pattern _{pattern}: '[' without ']'")
            chars = frozenset(_set_chars(pattern[i:end]))
            i = end + 1
            if chars:  # an empty set is skipped, as Asterisk does
                out.append((len(chars) << 8 | ord(min(chars)), chars))
        else:
            out.append((0x100 | ord(c), frozenset(c)))
    out.append((_END, frozenset()))
    return out


def _bits_key(chars: frozenset[str]) -> tuple[int, ...]:
    """Asterisk breaks a tie between two sets of one size by their bitmaps, the set holding
    the lower characters first; as a key: the characters' codes, ascending."""
    return tuple(sorted(ord(c) for c in chars))


def compare(left: str, right: str) -> int:
    """Asterisk's ext_cmp: <0 when ``left`` is tried before ``right`` in a context."""
    if not is_pattern(left):
        if is_pattern(right):
            return -1
        a, b = left.replace("-", ""), right.replace("-", "")
        return (a > b) - (a < b)
    if not is_pattern(right):
        return 1
    for (ls, lc), (rs, rc) in zip(_positions(left[1:]), _positions(right[1:]), strict=False):
        if ls != rs:
            return ls - rs
        lk, rk = _bits_key(lc), _bits_key(rc)
        if lk != rk:
            return -1 if lk < rk else 1
        if ls == _END:
            return 0
    return 0


extension_order = cmp_to_key(compare)


def matches(pattern: str, exten: str) -> bool:
    """Whether ``exten`` (a dialed string) runs ``pattern`` (Asterisk's E_MATCH)."""
    if not is_pattern(pattern):
        return pattern.replace("-", "") == exten.replace("-", "")
    data = exten.replace("-", "")
    # i: the characters of data matched so far (one per position that did not decide)
    for i, (score, chars) in enumerate(_positions(pattern[1:])):
        if score == _END:
            return i == len(data)
        if score == _BANG:
            return True  # zero or more: whatever is left
        if i == len(data):
            return False  # more pattern than digits (a partial match is no match)
        if score == _DOT:
            return True  # one or more: there is at least one left
        if data[i] not in chars:
            return False
    return False


def matches_more(pattern: str, exten: str) -> bool:
    """Asterisk's E_MATCHMORE: ``exten`` is a proper prefix of something ``pattern`` matches,
    so digit collection (an attended transfer's digits, overlap dialing) waits for more. A
    pattern with ``!`` never waits: pbx.c takes its match as final (``_X!`` ends the
    collection at the first digit)."""
    if not is_pattern(pattern):
        literal = pattern.replace("-", "")
        data = exten.replace("-", "")
        return len(literal) > len(data) and literal.startswith(data)
    data = exten.replace("-", "")
    for i, (score, chars) in enumerate(_positions(pattern[1:])):
        if score in (_END, _BANG):
            return False
        if score == _DOT:
            return True  # one or more: another digit always fits
        if i == len(data):
            return True  # the pattern goes on where the digits end
        if data[i] not in chars:
            return False
    return False


@dataclass
class Step:
    """One priority: ``App(data)`` as written (variables are substituted when it runs)."""

    priority: int
    app: str
    data: str
    label: str | None = None
    line: int = 0


@dataclass
class Extension:
    name: str
    steps: dict[int, Step] = field(default_factory=dict)

    def label(self, label: str) -> Step | None:
        return next((s for s in self.steps.values() if s.label == label), None)


@dataclass
class Context:
    name: str
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)

    def ordered(self) -> list[Extension]:
        return [self.extensions[k] for k in sorted(self.extensions, key=extension_order)]


@dataclass(frozen=True)
class Found:
    context: str
    extension: Extension
    step: Step


@dataclass
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)

    def find(self, context: str, exten: str, priority: int | str = 1) -> Found | None:
        """The step ``exten`` runs at ``priority`` (a number or a label) in ``context``, as
        pbx_find_extension finds it; None where Asterisk says the extension does not exist."""
        return self._find(context, exten, priority, [])

    def _find(self, context: str, exten: str, priority: int | str, seen: list[str]) -> Found | None:
        ctx = self.contexts.get(context)
        if ctx is None or context in seen:
            return None
        seen.append(context)
        for ext in ctx.ordered():
            if not matches(ext.name, exten):
                continue
            step = ext.label(priority) if isinstance(priority, str) else ext.steps.get(priority)
            if step is not None:
                return Found(context, ext, step)
        for included in ctx.includes:
            found = self._find(included, exten, priority, seen)
            if found is not None:
                return found
        return None

    def exists(self, context: str, exten: str, priority: int | str = 1) -> bool:
        return self.find(context, exten, priority) is not None

    def merge(self, other: Dialplan) -> Dialplan:
        """Another file's contexts added to these (a context named twice gains the
        extensions, as Asterisk merges a context spread over ``#include``d files)."""
        for name, ctx in other.contexts.items():
            mine = self.contexts.setdefault(name, Context(name))
            for ext_name, ext in ctx.extensions.items():
                if ext_name in mine.extensions:
                    raise DialplanError(f"[{name}] {ext_name} is defined twice")
                mine.extensions[ext_name] = ext
            mine.includes.extend(i for i in ctx.includes if i not in mine.includes)
        return self


_CONTEXT = re.compile(r"^\[(?P<name>[^\]\s]+)\]\s*(?P<rest>.*)$")
_KEYWORD = re.compile(r"^(?P<key>[A-Za-z]+)\s*=>?\s*(?P<value>.*)$")
_PRIORITY = re.compile(r"^(?P<pri>\d+|n|n\+\d+)(?:\((?P<label>[A-Za-z0-9_-]+)\))?$")
_APP = re.compile(r"^(?P<app>[A-Za-z][A-Za-z0-9_]*)\s*(?:\((?P<data>.*)\))?$", re.S)
# Sections of extensions.conf that hold settings, not contexts.
_SETTINGS = {"general", "globals"}


def _strip_comment(line: str) -> str:
    """``;`` starts a comment unless escaped as ``\\;``."""
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).strip()


def _split_app(text: str, where: str) -> tuple[str, str]:
    m = _APP.match(text.strip())
    if m is None:
        raise DialplanError(f"{where}: cannot read the application in {text!r}")
    return m.group("app"), m.group("data") or ""


def parse(text: str, source: str = "extensions.conf") -> Dialplan:
    """Read the contexts of an ``extensions.conf`` text (see the module docstring)."""
    plan = Dialplan()
    ctx: Context | None = None
    section = ""
    last: Extension | None = None
    last_priority = 0
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{number}"
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("#"):
            raise DialplanError(f"{where}: {line.split()[0]} is not supported by the simulator")
        m = _CONTEXT.match(line)
        if m is not None:
            if m.group("rest"):
                raise DialplanError(f"{where}: context templates ({m.group('rest')}) are refused")
            section = m.group("name")
            last, last_priority = None, 0
            if section in _SETTINGS:
                ctx = None
                continue
            # A context named again gains the new lines, as pbx_config merges it.
            ctx = plan.contexts.setdefault(section, Context(section))
            continue
        if section in _SETTINGS:
            continue  # static/writeprotect/variables: nothing that routes a call
        m = _KEYWORD.match(line)
        if m is None:
            raise DialplanError(f"{where}: cannot read {line!r}")
        if ctx is None:
            raise DialplanError(f"{where}: {m.group('key')} outside a context")
        key, value = m.group("key").lower(), m.group("value").strip()
        if key == "include":
            if not value or "," in value or "|" in value:
                raise DialplanError(f"{where}: include => takes one context name (no timing)")
            ctx.includes.append(value)
            continue
        if key == "exten":
            name, _, rest = value.partition(",")
            name = name.strip()
            if not name or not rest:
                raise DialplanError(f"{where}: exten => needs name,priority,application")
            if "/" in name:
                raise DialplanError(f"{where}: caller-id matching ({name}) is not supported")
            if is_pattern(name):
                _positions(name[1:])  # a broken set fails here, with its pattern
            ext = ctx.extensions.get(name)
            if ext is None:
                ext = ctx.extensions[name] = Extension(name)
            last, last_priority = ext, 0 if not ext.steps else max(ext.steps)
        elif key == "same":
            if last is None:
                raise DialplanError(f"{where}: same => without an exten => before it")
            ext, rest = last, value
        else:
            raise DialplanError(f"{where}: {key} => is not supported by the simulator")
        pri_text, _, app_text = rest.partition(",")
        pm = _PRIORITY.match(pri_text.strip())
        if pm is None:
            raise DialplanError(f"{where}: priority {pri_text.strip()!r} is not supported")
        pri = pm.group("pri")
        if pri == "n":
            priority = last_priority + 1
        elif pri.startswith("n+"):
            priority = last_priority + int(pri[2:])
        else:
            priority = int(pri)
        if priority < 1:
            raise DialplanError(f"{where}: priority must be 1 or more")
        if priority in ext.steps:
            raise DialplanError(f"{where}: {ext.name} priority {priority} is defined twice")
        app, data = _split_app(app_text, where)
        ext.steps[priority] = Step(priority, app, data, pm.group("label"), number)
        last_priority = priority
    return plan
