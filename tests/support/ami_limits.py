"""Actions at and past Asterisk's manager limits (main/manager.c: a 1,024-byte line with its
CRLF, 128 header lines), and what Asterisk 22.10.1 answered them: asked of the real switch
by tests/asterisk/test_ami_limits.py, of the simulator by tests/protocol/test_simulator_ami.py.
"""

from __future__ import annotations

LONGEST = "x" * (1024 - len("Variable: \r\n"))
ACTIONS = [
    f"Action: Ping\r\nActionID: p1\r\nVariable: {LONGEST}",
    f"Action: Ping\r\nActionID: p2\r\nVariable: {LONGEST}x",  # its CR fills the buffer
    f"Action: Ping\r\nActionID: p3\r\nVariable: {LONGEST}xx",
    "Action: Ping\r\nActionID: h1\r\n" + "\r\n".join(f"X{i}: y" for i in range(126)),
    "Action: Ping\r\nActionID: h2\r\n" + "\r\n".join(f"X{i}: y" for i in range(127)),
    "Action: Ping\r\nActionID: after",
]
# (ActionID, Response, Message) of each answer, in order
ANSWERS = [
    ("p1", "Success", None),
    ("p2", "Error", "Failed to parse message: line too long"),
    (None, "Error", "Missing action in request"),  # p2's own empty line
    ("p3", "Error", "Failed to parse message: line too long"),
    ("h1", "Success", None),
    ("h2", "Error", "Too many lines in message or allocation failure"),
    ("after", "Success", None),
]
