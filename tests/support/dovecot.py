"""A real IMAP server for the mail tests: Debian's dovecot (package dovecot-imapd, installed by
`scripts/system-deps.sh --mail`, which `make test` runs), started as a foreground process on
a free loopback port with its whole configuration, state and maildirs in a temporary folder;
the system's own dovecot service (if any) is never touched.

Mail for a user is dropped straight into the user's maildir (``new/``), as a local delivery
agent does: dovecot sees it (inotify) and tells an idling client.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.ports import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
INSTALL_HINT = (
    "dovecot is not installed: the mail tests need a real IMAP server. "
    "Install it with `scripts/system-deps.sh --mail` (apt-get install dovecot-imapd)."
)


def available() -> bool:
    return os.access(DOVECOT, os.X_OK)


class Dovecot:
    """``Dovecot(folder, {"user": "password"})``; ``start()``, ``deliver(user, raw)``,
    ``stop()``. ``port`` is the IMAP port on 127.0.0.1 (no TLS)."""

    def __init__(self, folder: Path, users: dict[str, str]) -> None:
        self.folder = folder
        self.users = dict(users)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._seq = 0
        if os.getuid() == 0:
            # dovecot gives no mail access as root: its own unprivileged users serve us
            mail_user = pwd.getpwnam("dovecot")
            self.uid, self.gid = mail_user.pw_uid, mail_user.pw_gid
            self.login_user, self.internal_user = "dovenull", "dovecot"
        else:
            me = pwd.getpwuid(os.getuid())
            self.uid, self.gid = me.pw_uid, me.pw_gid
            self.login_user = self.internal_user = me.pw_name
        self.config = folder / "dovecot.conf"
        self.log = folder / "dovecot.log"

    def _write_config(self) -> None:
        f = self.folder
        for sub in ("run", "state", "mail", "home"):
            (f / sub).mkdir(exist_ok=True)
        f.chmod(0o755)  # the login and mail processes run unprivileged
        passwd = f / "passwd"
        passwd.write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in self.users.items())
        )
        passwd.chmod(0o644)
        for sub in ("mail", "home"):
            os.chown(f / sub, self.uid, self.gid)
        self.config.write_text(
            f"""
base_dir = {f}/run
state_dir = {f}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{f}/mail/%u
first_valid_uid = {self.uid}
last_valid_uid = {self.uid}
first_valid_gid = {self.gid}
default_login_user = {self.login_user}
default_internal_user = {self.internal_user}
mail_max_userip_connections = 50
imap_idle_notify_interval = 2 mins
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={f}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        )

    def start(self, timeout_s: float = 15.0) -> None:
        if not available():
            raise RuntimeError(INSTALL_HINT)
        if not self.port:
            self.port = free_port()
        self._write_config()
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self._why()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self._why()}")

    def _why(self) -> str:
        err = b""
        if self.proc is not None and self.proc.stderr is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read() or b""
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        return (err.decode(errors="replace") + "\n" + log).strip()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()

    def maildir(self, user: str) -> Path:
        return self.folder / "mail" / user

    def deliver(self, user: str, raw: bytes) -> None:
        """Drop ``raw`` into ``user``'s maildir as a delivery agent does (tmp/ then new/)."""
        box = self.maildir(user)
        for sub in ("tmp", "new", "cur"):
            (box / sub).mkdir(parents=True, exist_ok=True)
            os.chown(box / sub, self.uid, self.gid)
        os.chown(box, self.uid, self.gid)
        self._seq += 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._seq}.ccbox-test"
        tmp = box / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, self.uid, self.gid)
        tmp.rename(box / "new" / name)

    def new_uidvalidity(self, user: str) -> None:
        """Make dovecot number ``user``'s INBOX anew (as after a rebuild): with the server
        stopped, its UID list and indexes are removed and the messages kept; the next start
        gives a new UIDVALIDITY (dovecot takes the clock's seconds: wait for the next one)."""
        assert self.proc is None, "stop dovecot first"
        box = self.maildir(user)
        for path in list(box.glob("dovecot*")):
            path.unlink()
        time.sleep(1.1)
