"""Run the real ccboxd as a subprocess under a notify socket, as systemd would."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    notify: socket.socket
    ready_message: bytes
    output: str = ""
    returncode: int | None = None
    messages: list[bytes] = field(default_factory=list)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, wait, keep the output and exit status."""
        self.proc.send_signal(signal.SIGTERM)
        self.output, _ = self.proc.communicate(timeout=timeout)
        self.returncode = self.proc.returncode


@contextmanager
def running_daemon(conf: Path, tmp: Path, **env: str) -> Iterator[Daemon]:
    """Start ccboxd on ``conf`` and yield once it has sent READY=1 (killed on the way out)."""
    path = tmp / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    full_env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(path), **env}
    proc = subprocess.Popen(
        [str(BIN / "ccboxd"), "--config", str(conf)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        messages = []
        while not (messages and messages[-1].startswith(b"READY=1")):
            messages.append(sock.recv(4096))
        yield Daemon(proc, sock, messages[-1], messages=messages)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_simulator(
    agi_port: int,
    calls: int,
    concurrency: int,
    prompt_seconds: float,
    timeout: float = 300,
    serve_config: Path | None = None,
) -> dict[str, Any]:
    """Run `ccbox simulator` against a daemon; return its JSON summary (fails loudly).
    With ``serve_config`` it also serves AMI as that config says (``--serve``). The switch
    has ccbox's system sounds (empty placeholders, as a box has them after asterisk-config)."""
    import json
    import tempfile

    from drivers.asterisk.simulator.sounds import SoundLibrary
    from ivr.prompt_library import SYSTEM_SOUNDS
    from tests.support.sim_sounds import LANGUAGES

    head = [str(BIN / "ccbox")]
    if serve_config is not None:
        head += ["--config", str(serve_config)]
    with tempfile.TemporaryDirectory(prefix="ccbox-sim-sounds-") as tmp:
        SoundLibrary(Path(tmp)).install_placeholders(sorted(SYSTEM_SOUNDS), LANGUAGES)
        sim = subprocess.run(
            [
                *head,
                "simulator",
                *(["--serve"] if serve_config is not None else ["--agi", f"127.0.0.1:{agi_port}"]),
                "--calls",
                str(calls),
                "--concurrency",
                str(concurrency),
                "--prompt-seconds",
                str(prompt_seconds),
                "--sounds",
                tmp,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    assert sim.returncode == 0, sim.stdout + sim.stderr
    summary: dict[str, Any] = json.loads(sim.stdout.strip().splitlines()[-1])
    return summary
