"""Mail in: one IMAP folder watched through imapclient (a well-kept client: IDLE, UIDs,
UIDVALIDITY), IDLE where the server has it (re-issued every 25 minutes, RFC 2177), else
polled.

imapclient blocks, so each watcher runs its session in a thread of its own and never on the
reactor; every message is handed to the reactor (``blockingCallFromThread``) and counts as
taken -- ``last_uid`` advanced, ``on_state`` told -- only once ``on_message``'s Deferred
succeeded. A failure keeps it: the watcher waits and fetches it again, in order, so nothing
after it overtakes it and nothing is lost on a crash or a database error. The folder is only
read (EXAMINE, BODY.PEEK): the customer's mailbox keeps its flags.

A mail announced (``* n EXISTS``) while others are fetched and stored, between two
commands or with IDLE's ``+`` is not left for the next IDLE: the watcher searches again
until a search finds nothing new, and an EXISTS imaplib filed with another answer or read
ahead with the ``+`` ends the IDLE at once.

UIDVALIDITY changed (the server rebuilt the folder): every UID is new, so the folder is read
again from UID 1 and ``on_state`` gets (new uidvalidity, 0) first; messages already taken
come again and the caller must drop them by Message-ID (the e-mail channel does).

A refused login is reported (``on_health("error", ...)``) and tried again only after
``login_retry_s``; other failures reconnect with a doubling backoff up to ``max_backoff_s``.
A message whose FETCH fails (NO, BAD, the connection broken in its answer: a corrupt
message) ``FETCH_REFUSALS`` times in a row, each after a new login, is left on the server
with an error in the log, so that it does not hold up the later mails for ever.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError, LoginError  # type: ignore[import-untyped]
from twisted.internet import defer, threads
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from drivers.mail.mime import HeadersOnly

log = Logger(namespace="ccbox.mail.imap")

IDLE_REISSUE_S = 25 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes
# the most of a too large message's header block fetched: a message with no blank line is
# all header, as large as the message itself
HEAD_MAX_BYTES = 64 * 1024
# a message whose FETCH fails (NO, BAD, the connection broken in the answer) this many times
# in a row, each after a new login and a backoff, is left on the server: the later mails go on
FETCH_REFUSALS = 5


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    user: str
    password: str
    folder: str = "INBOX"
    poll_s: float = 60.0
    timeout_s: float = 30.0
    # a CA bundle to trust instead of the system's (a private mail server's own CA); ""
    # for the system's
    ca_file: str = ""
    # a message larger than this (RFC822.SIZE) is not downloaded: its header block comes
    # as mime.HeadersOnly, which mime.parse reads as too large; 0 = no limit
    max_bytes: int = 0


class _Stopped(Exception):
    pass


class ImapWatcher:
    """Watches ``settings.folder``; ``state`` is (uidvalidity or None, last_uid) as stored.

    on_message(uid, raw) -> Deferred: the message is taken (last_uid advanced, on_state
    called) only after it succeeds; a failure keeps it for the retry. On a UIDVALIDITY
    change the folder is read again from the start: the caller dedupes by Message-ID.
    on_health("ok" | "error", detail) reports the connection's state (on changes).
    All three are called on the reactor thread.
    """

    idle_reissue_s: float = IDLE_REISSUE_S
    idle_check_s: float = 5.0  # how long one wait inside IDLE lasts before stop is looked at
    first_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    login_retry_s: float = 300.0

    def __init__(
        self,
        reactor: Any,
        settings: ImapSettings,
        state: tuple[int | None, int],
        on_message: Callable[[int, bytes], Deferred[Any]],
        on_state: Callable[[int, int], Deferred[Any] | None],
        on_health: Callable[[str, str], None],
    ) -> None:
        if settings.security not in ("tls", "starttls", "none"):
            raise ValueError(f"security must be tls, starttls or none, not {settings.security!r}")
        self.reactor = reactor
        self.settings = settings
        self.uidvalidity, self.last_uid = state
        self.on_message = on_message
        self.on_state = on_state
        self.on_health = on_health
        self.idle_used = False  # the last session idled (the server has IDLE)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: IMAPClient | None = None
        self._thread: threading.Thread | None = None  # until the thread has ended
        self._waiting: list[Deferred[None]] = []  # stop()'s answers
        self._health: tuple[str, str] | None = None
        self._backoff = self.first_backoff_s
        # FETCH refusals in a row, and of which UID: only the first message not yet taken is
        # ever retried (a refusal ends the session, the next one starts from it)
        self._refused: tuple[int, int] = (0, 0)

    # --- reactor side ----------------------------------------------------------------------

    def start(self) -> None:
        """Starts the thread; nothing while it runs. Refused (RuntimeError) while a stop()
        is still under way: the stopping thread shares the stop flag a start clears."""
        if self._thread is not None:
            if self._stop.is_set():
                raise RuntimeError("IMAP watcher started again before its stop() finished")
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"imap {self.settings.user}@{self.settings.host}", daemon=True
        )
        self._thread.start()

    def stop(self) -> Deferred[None]:
        """Ends the session (an IDLE at once: its socket is shut); fires when the thread has
        finished (a message being handed over is finished first), for every caller."""
        if self._thread is None:
            return defer.succeed(None)
        self._stop.set()
        with self._lock:
            client = self._client
        if client is not None:
            with contextlib.suppress(OSError):
                client.socket().shutdown(socket.SHUT_RDWR)
        done: Deferred[None] = Deferred()
        self._waiting.append(done)
        return done

    def _ended(self) -> None:
        self._thread = None
        waiting, self._waiting = self._waiting, []
        for done in waiting:
            done.callback(None)

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug of ours: said, never silent
            log.failure("IMAP watcher for {user} stopped", user=self.settings.user)
        finally:
            self.reactor.callFromThread(self._ended)

    def _health_is(self, status: str, detail: str) -> None:
        if self._health == (status, detail):
            return
        self._health = (status, detail)
        self.reactor.callFromThread(self.on_health, status, detail)

    def _wait(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped

    def _fail(self, detail: str, wait_s: float | None = None) -> None:
        """Report, then wait (``wait_s``, or the backoff, doubled for next time)."""
        self._health_is("error", detail)
        if wait_s is None:
            wait_s = self._backoff
            self._backoff = min(self._backoff * 2, self.max_backoff_s)
        self._wait(wait_s)

    def _loop(self) -> None:
        self._backoff = self.first_backoff_s
        while not self._stop.is_set():
            try:
                client = self._connect()
            except _Stopped:
                return
            except LoginError as exc:
                try:
                    self._fail(
                        f"login refused for {self.settings.user}: {_text(exc)}", self.login_retry_s
                    )
                except _Stopped:
                    return
                continue
            except Exception as exc:  # OSError, ssl.SSLError, IMAPClientError and the odd one
                try:
                    self._fail(f"cannot connect to {self._where()}: {_text(exc)}")
                except _Stopped:
                    return
                continue
            try:
                self._session(client)
            except _Stopped:
                return
            except _Retry as exc:
                with contextlib.suppress(_Stopped):
                    self._fail(exc.detail)
            except Exception as exc:
                if self._stop.is_set():
                    return
                if not isinstance(exc, OSError | IMAPClientError | ssl.SSLError):
                    log.failure("IMAP session for {user} failed", user=self.settings.user)
                with contextlib.suppress(_Stopped):
                    self._fail(f"connection to {self._where()} lost: {_text(exc)}")
            finally:
                self._close(client)

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _context(self) -> ssl.SSLContext:
        cafile = self.settings.ca_file or None
        return ssl.create_default_context(cafile=cafile)

    def _connect(self) -> IMAPClient:
        s = self.settings
        client = IMAPClient(
            s.host,
            port=s.port,
            ssl=s.security == "tls",
            ssl_context=self._context() if s.security == "tls" else None,
            timeout=s.timeout_s,
        )
        with self._lock:
            self._client = client
        try:
            if self._stop.is_set():
                raise _Stopped
            if s.security == "starttls":
                client.starttls(self._context())  # fails when the server does not offer it
            client.login(s.user, s.password)
        except BaseException:
            self._close(client)
            raise
        return client

    def _close(self, client: IMAPClient) -> None:
        with self._lock:
            self._client = None
        with contextlib.suppress(Exception):
            if not self._stop.is_set():
                client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()

    def _session(self, client: IMAPClient) -> None:
        info = client.select_folder(self.settings.folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        if self.uidvalidity != validity:
            if self.uidvalidity is not None:
                log.warn(
                    "UIDVALIDITY of {folder} changed ({old} -> {new}): reading it again",
                    folder=self.settings.folder,
                    old=self.uidvalidity,
                    new=validity,
                )
                self.last_uid = 0
            self.uidvalidity = validity
            self._save_state()
        idle = b"IDLE" in client.capabilities()
        self.idle_used = idle
        self._health_is("ok", f"{self.settings.folder} on {self._where()}")
        while True:
            self._take_new(client)
            self._backoff = self.first_backoff_s  # all taken: the next failure starts over
            if self._stop.is_set():
                raise _Stopped
            if idle:
                self._idle(client)
            else:
                self._wait(self.settings.poll_s)

    def _take_new(self, client: IMAPClient) -> None:
        """Takes every message above ``last_uid``, searching again until a search finds
        nothing new and no EXISTS came with it: a mail that arrives while others are fetched
        and stored is announced (``* n EXISTS``) inside those commands' answers, which
        imaplib files away, and the IDLE that follows would not hear of it again."""
        quiet = 0
        while True:
            if self._stop.is_set():
                raise _Stopped
            _news_filed(client)  # what was announced so far, the search below sees
            found = client.search(["UID", f"{self.last_uid + 1}:*"])
            # "n:*" always matches the highest UID, even when it is below n (RFC 3501)
            new = sorted(int(u) for u in found if int(u) > self.last_uid)
            for uid in new:
                self._take(client, uid)
            if new:
                quiet = 0
                continue
            # a search that found nothing: again only when a mail was announced during it
            # (a server that says EXISTS with every answer gets three searches, not a loop)
            quiet += 1
            if not _news_filed(client) or quiet >= 3:
                return

    def _take(self, client: IMAPClient, uid: int) -> None:
        if self._stop.is_set():
            raise _Stopped
        try:
            raw = self._fetch(client, uid)
        except (OSError, IMAPClientError) as exc:
            # the server answered NO or BAD for this message, or broke the connection in
            # its answer: a corrupt message does so every time, after every new login, and
            # would hold up every later mail for ever
            refused = self._refused[1] + 1 if self._refused[0] == uid else 1
            self._refused = (uid, refused)
            if refused < FETCH_REFUSALS:
                raise
            log.error(
                "{folder}: message {uid} could not be fetched {n} times in a row ({why}): "
                "left on the server, not taken; the later mails go on",
                folder=self.settings.folder,
                uid=uid,
                n=refused,
                why=_text(exc),
            )
            self._refused = (0, 0)
            self._backoff = self.first_backoff_s  # the next message's refusals start over
            self.last_uid = uid
            self._save_state()
            return
        self._refused = (0, 0)
        if raw is None:
            return  # expunged meanwhile
        try:
            threads.blockingCallFromThread(self.reactor, self.on_message, uid, raw)
        except Exception as exc:
            raise _Retry(f"message {uid} not stored, kept for a retry: {_text(exc)}") from exc
        self.last_uid = uid
        self._save_state()
        self._health_is("ok", f"{self.settings.folder} on {self._where()}")

    def _fetch(self, client: IMAPClient, uid: int) -> bytes | None:
        limit = self.settings.max_bytes
        if limit:
            sized = client.fetch([uid], ["RFC822.SIZE"])
            if uid not in sized:
                return None
            size = int(sized[uid].get(b"RFC822.SIZE") or 0)
            if size > limit:
                # a partial fetch: the answer is named BODY[HEADER]<0> (RFC 3501 6.4.5)
                head = client.fetch([uid], [f"BODY.PEEK[HEADER]<0.{HEAD_MAX_BYTES}>"])
                if uid not in head:
                    return None
                block = next(
                    (v for k, v in head[uid].items() if bytes(k).startswith(b"BODY[HEADER]")),
                    b"",
                )
                return HeadersOnly(bytes(block or b"")[:HEAD_MAX_BYTES], size)
        fetched = client.fetch([uid], ["BODY.PEEK[]"])
        if uid not in fetched:
            return None
        return bytes(fetched[uid].get(b"BODY[]") or b"")

    def _save_state(self) -> None:
        assert self.uidvalidity is not None
        try:
            threads.blockingCallFromThread(
                self.reactor, _maybe, self.on_state, self.uidvalidity, self.last_uid
            )
        except Exception as exc:
            # the message itself is stored: after a crash it comes again and is dropped by
            # its Message-ID, so nothing is lost
            log.warn("IMAP state not saved: {why}", why=exc)

    def _idle(self, client: IMAPClient) -> None:
        news = _begin_idle(client)
        try:
            until = time.monotonic() + self.idle_reissue_s
            while not news and not self._stop.is_set():
                left = until - time.monotonic()
                if left <= 0:
                    break
                wait = min(self.idle_check_s, left)
                began = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(_is_news(r) for r in responses):
                    break
                if not responses and time.monotonic() - began < wait * 0.9:
                    # the socket woke with no whole line: imapclient swallows the EOF of a
                    # closed connection here; DONE (below) finds out, without a busy loop
                    break
        finally:
            if not self._stop.is_set():
                client.idle_done()


class _Retry(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _maybe(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return defer.maybeDeferred(fn, *args)


def _begin_idle(client: IMAPClient) -> bool:
    """IDLE, as ``client.idle()`` sends it; True when a mail was announced before the
    server's ``+`` (an EXISTS sent between two commands, as RFC 3501 allows: imapclient's
    idle() takes it for a broken answer and the session was lost)."""
    imap = client._imap
    tag = imap._command("IDLE")
    client._idle_tag = tag
    while imap._get_response() is not None:  # None: the continuation, IDLE has begun
        if imap.tagged_commands.get(tag):  # refused (BAD/NO) instead
            typ, data = imap.tagged_commands.pop(tag)
            raise IMAPClientError(f"IDLE refused: {typ} {_text(Exception(data[0]))}")
    return _news_filed(client) or _read_ahead(client)


def _read_ahead(client: IMAPClient) -> bool:
    """True when data came with the ``+`` and sits read ahead in imaplib's buffer (or in
    TLS's): idle_check() polls the socket, which has nothing more to say, and would wait
    the whole IDLE (25 minutes) past a mail announced at once."""
    sock = client.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    sock.setblocking(False)
    try:
        return bool(client._imap.file.peek(1))
    except OSError:  # nothing to read (a TLS socket says so by raising)
        return False
    finally:
        sock.setblocking(True)
        client._set_read_timeout()


def _news_filed(client: IMAPClient) -> bool:
    """True when an EXISTS or a RECENT above 0 was filed away by imaplib (untagged data
    that came with another command's answer) since the last look; forgets them."""
    filed = client._imap.untagged_responses
    exists = filed.pop("EXISTS", None)
    recent = filed.pop("RECENT", None) or []
    return bool(exists) or any(_count(r) > 0 for r in recent)


def _count(data: Any) -> int:
    try:
        return int(data)
    except (TypeError, ValueError):
        return 0


def _is_news(response: Any) -> bool:
    """An untagged response during IDLE that may mean new mail (EXISTS, RECENT) or a
    server going away (BYE)."""
    if not isinstance(response, tuple) or not response:
        return False
    if response[0] == b"BYE":
        return True
    word = response[1] if len(response) >= 2 else None
    return isinstance(word, bytes) and word.upper() in (b"EXISTS", b"RECENT")


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return (text or type(exc).__name__)[:200]
