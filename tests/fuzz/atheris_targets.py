"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that take raw bytes from
outside: ``make fuzz`` runs each target for ``FUZZ_SECONDS`` after the hypothesis
properties. The property is the same as there: a valid result or the documented error,
never another exception (libFuzzer stops at the first one and writes the input that
caused it as ``crash-<sha1>``, which replays with ``python -m tests.fuzz.atheris_targets
<target> crash-<sha1>``).

    python -m tests.fuzz.atheris_targets ami -max_total_time=60
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import atheris
import numpy  # noqa: F401  (imported first: only ccbox's own modules are instrumented)
import soundfile  # noqa: F401
import sqlalchemy  # noqa: F401
from twisted.internet import defer  # noqa: F401
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols import basic  # noqa: F401

with atheris.instrument_imports(include=["drivers", "ivr"]):
    from drivers.asterisk.agi.codec import AGIProtocolError, ReplyParser
    from drivers.asterisk.agi.session import AGISessionProtocol
    from drivers.asterisk.ami import _scan_c, _scan_py
    from drivers.asterisk.ami import codec as ami_codec
    from drivers.mail.mime import parse as parse_mail
    from ivr.prompt_audio import PromptAudioError, convert_upload
    from ivr.validator import Catalog, validate

ROOT = Path(__file__).resolve().parents[2]
_WANTED = frozenset({b"Hangup", b"DialEnd", b"Newchannel"})


def ami(data: bytes) -> None:
    """Both scanners agree, and the Parser yields messages or ProtocolError."""
    fdp = atheris.FuzzedDataProvider(data)
    cut = fdp.ConsumeIntInRange(0, 64)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    for wanted in (None, _WANTED):
        assert _scan_c.scan(body, wanted, 256) == _scan_py.scan(body, wanted, 256)
    assert _scan_c.split_headers(body, 16) == _scan_py.split_headers(body, 16)
    parser = ami_codec.Parser(["Hangup", "DialEnd"], max_message_bytes=512)
    try:
        parser.feed(body[:cut])
        parser.feed(body[cut:])
    except ami_codec.ProtocolError:
        return


def agi(data: bytes) -> None:
    """A FastAGI session fed any bytes hands the route a header or drops the connection."""
    ready: list[AGISessionProtocol] = []
    session = AGISessionProtocol(Clock(), ready.append)
    session.makeConnection(StringTransport())
    session.dataReceived(data)
    assert len(ready) <= 1
    replies = ReplyParser()
    for line in data.decode("utf-8", "replace").split("\n"):
        try:
            replies.line(line)
        except AGIProtocolError:
            replies = ReplyParser()


_CATALOG = Catalog(
    prompts=frozenset({"welcome"}), queues=frozenset({"support"}), mailboxes=frozenset({"801"})
)


def flow(data: bytes) -> None:
    """The validator on any JSON document: problems, never an exception."""
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return
    for problem in validate(doc, _CATALOG, "fuzz"):
        str(problem)


def upload(data: bytes) -> None:
    """A prompt upload of any bytes: converted or PromptAudioError."""
    try:
        convert_upload(data)
    except PromptAudioError:
        return


def mail(data: bytes) -> None:
    """Any bytes as an e-mail: a ParsedMail, never an exception, no control character in a
    header, no script left in the HTML (tests/fuzz/test_fuzz_mail_mime.py's property)."""
    m = parse_mail(data, max_bytes=256 * 1024)
    for header in (m.subject, m.from_name, m.from_addr, m.message_id):
        if any(ord(c) < 32 or ord(c) == 127 for c in header):
            raise AssertionError(f"control character in a header: {header!r}")
    if "<script" in m.html.lower():
        raise AssertionError("a script survived the cleaning")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "ami": ami,
    "agi": agi,
    "flow": flow,
    "upload": upload,
    "mail": mail,
}


def _seeds(name: str) -> list[bytes]:
    """Valid inputs to start from: libFuzzer mutates them (random bytes are rarely JSON or
    a WAV header)."""
    if name == "flow":
        from ivr import sample_center

        return [json.dumps(sample_center.flow()).encode()]
    if name == "upload":
        from ivr.prompt_audio import tone_wav

        return [tone_wav(440, 0.05, 8000), tone_wav(440, 0.02, 44100)]
    if name == "mail":
        return [
            p.read_bytes() for p in sorted((ROOT / "tests" / "fixtures" / "mail").glob("*.eml"))
        ]
    if name == "agi":
        keys = ["network", "network_script", "request", "channel", "uniqueid", "callerid"]
        return [b"".join(f"agi_{k}: x\n".encode() for k in keys) + b"\n200 result=0\n"]
    return [b"Asterisk Call Manager/9.0.0\r\nEvent: Hangup\r\nChannel: PJSIP/1001-1\r\n\r\n"]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: atheris_targets {{{','.join(TARGETS)}}} [libFuzzer options]")
    name = sys.argv[1]
    corpus = ROOT / "build" / "fuzz-corpus" / name
    if not corpus.exists():
        corpus.mkdir(parents=True)
        for i, seed in enumerate(_seeds(name)):
            (corpus / f"seed-{i}").write_bytes(seed)
    args = sys.argv[2:]
    if not any(not a.startswith("-") for a in args):  # no input to replay: fuzz the corpus
        args.append(str(corpus))
    atheris.Setup([sys.argv[0], *args], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
