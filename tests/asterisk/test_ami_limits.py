"""Asterisk's manager limits, asked of the real switch: a line of 1,024 bytes with its CRLF
and 128 header lines are read; one byte or one line more and the action is refused. The
simulator answers the same (tests/protocol/test_simulator_ami.py) and ccbox's encoder
never writes such an action (tests/protocol/test_ami_edges.py)."""

from __future__ import annotations

import socket
from contextlib import closing

from tests.support import real_asterisk as ra
from tests.support.ami_limits import ACTIONS, ANSWERS
from tests.support.real_box import RealBox


def test_manager_line_and_header_limits(box: RealBox) -> None:
    with closing(socket.create_connection(("127.0.0.1", box.ast.ports.ami), timeout=10)) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"Asterisk Call Manager/")
        login = f"Action: Login\r\nUsername: {ra.AMI_USER}\r\nSecret: {ra.AMI_SECRET}\r\n"
        s.sendall((login + "Events: off\r\n\r\n").encode())
        s.sendall(b"".join(a.encode() + b"\r\n\r\n" for a in ACTIONS))
        answers: list[tuple[str | None, str | None, str | None]] = []
        headers: dict[str, str] = {}
        while len(answers) < len(ANSWERS) + 1:  # the Login's answer first
            line = f.readline().decode().rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                headers.setdefault(key, value)
                continue
            if "Response" in headers:
                answers.append(
                    (headers.get("ActionID"), headers.get("Response"), headers.get("Message"))
                )
            headers = {}
    assert answers[0][1] == "Success", answers[0]
    assert answers[1:] == ANSWERS
