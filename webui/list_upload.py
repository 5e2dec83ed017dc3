"""Uploaded lists being imported: the jobs behind the campaign page's progress bar and the
do-not-call page's national list.

CherryPy streams a multipart file part to a temporary file as it arrives (never the whole
body in memory; ``request.body.maxbytes`` caps it), and the job reads that file in a thread
of its own: a call list through acd/dialer/list_import.py's ``ImportJob``, a national
do-not-call list through ``NationalListJob`` here. The browser polls the job's progress by
an unguessable token; the finished job keeps its bad rows (line and reason) for the page.
Few jobs run at once (``MAX_RUNNING``) and the last ``KEEP`` are remembered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from twisted.internet.threads import blockingCallFromThread
from twisted.logger import Logger

from acd.dialer.list_import import MAX_BAD_KEPT, BadRow
from acd.dialer.national_file import read_numbers
from appliance.text import N_

log = Logger(namespace="ccbox.web.upload")

MAX_RUNNING = 2
KEEP = 20
MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # a million-row list is about 60 MB of CSV


class Job(Protocol):
    """What the registry needs of a job (ImportJob and NationalListJob have it)."""

    state: str

    def start(self) -> None: ...

    def cancel(self) -> None: ...

    def progress(self) -> dict[str, Any]: ...


@dataclass
class Upload:
    token: str
    kind: str  # "list" or "national"
    owner: int  # the user who uploaded
    campaign_id: int | None
    name: str  # the file's name as sent (shown escaped, never a path)
    job: Any
    file: IO[bytes]
    created: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return str(self.job.state) in ("waiting", "reading")

    def bad_rows(self) -> list[BadRow]:
        result = getattr(self.job, "result", None)
        return list(getattr(result, "bad", []) or [])

    def error(self) -> str:
        result = getattr(self.job, "result", None)
        return str(getattr(result, "error", "") or "")


class UploadRefused(ValueError):
    """Too many imports at once (the message is for the user)."""


class Uploads:
    """The registry: start a job on an uploaded file, find it again by token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Upload] = OrderedDict()

    def start(
        self,
        kind: str,
        owner: int,
        campaign_id: int | None,
        name: str,
        file: IO[bytes],
        make_job: Callable[[IO[bytes]], Any],
    ) -> Upload:
        with self._lock:
            if sum(1 for u in self._jobs.values() if u.running) >= MAX_RUNNING:
                raise UploadRefused(
                    N_("{n} imports are running: wait for one to finish.", n=MAX_RUNNING)
                )
            job = make_job(file)
            upload = Upload(secrets.token_urlsafe(16), kind, owner, campaign_id, name, job, file)
            self._jobs[upload.token] = upload
            while len(self._jobs) > KEEP:
                token, old = next(iter(self._jobs.items()))
                if old.running:
                    break
                del self._jobs[token]
        threading.Thread(
            target=self._run, args=(upload,), name="ccbox-list-upload", daemon=True
        ).start()
        return upload

    def _run(self, upload: Upload) -> None:
        try:
            upload.job.run()
        except Exception:
            log.failure("importing {name} failed", name=upload.name)
        finally:
            upload.file.close()  # the temporary file goes with it

    def get(self, token: str) -> Upload | None:
        with self._lock:
            return self._jobs.get(token) if isinstance(token, str) else None

    def latest(self, kind: str, campaign_id: int | None = None) -> Upload | None:
        with self._lock:
            for upload in reversed(self._jobs.values()):
                if upload.kind == kind and upload.campaign_id == campaign_id:
                    return upload
        return None

    def cancel_all(self) -> None:
        with self._lock:
            for upload in self._jobs.values():
                upload.job.cancel()


@dataclass
class NationalResult:
    state: str
    rows_ok: int
    rows_bad: int
    bad: list[BadRow] = field(default_factory=list)
    error: str = ""


class NationalListJob:
    """The national do-not-call list from a file of numbers (one a line; a CSV's first
    column), read by acd/dialer/national_file.py as ``ccbox dnc import`` reads it, in this
    thread; then the list replaced in one
    transaction (``replace``, run through the reactor: the old list stays until the new one
    is in). A file with no good number is refused, the old list kept; so is one with a bad
    line unless ``skip_bad`` (as ``ccbox dnc import --skip-bad``)."""

    def __init__(
        self,
        file: IO[bytes],
        list_date: dt.date,
        replace: Callable[[list[str], dt.date], Any],
        reactor: Any,
        skip_bad: bool = False,
    ) -> None:
        self.file = file
        self.skip_bad = skip_bad
        self.list_date = list_date
        self.replace = replace
        self.reactor = reactor
        self.state = "waiting"
        self.rows_ok = self.rows_bad = 0
        self.bytes_total = 0
        self._read = 0
        self._cancel = threading.Event()
        self.result: NationalResult | None = None

    def start(self) -> None:  # the registry runs it
        self.run()

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self) -> dict[str, Any]:
        total = self.bytes_total
        if self.state == "reading":
            with contextlib.suppress(OSError, ValueError):  # closed: done meanwhile
                self._read = self.file.tell()  # how far read_numbers is (or its buffer)
        read = min(self._read, total) if total else self._read
        return {
            "state": self.state,
            "bytes_read": read,
            "bytes_total": total,
            "percent": round(100.0 * read / total, 1) if total else 0.0,
            "rows_ok": self.rows_ok,
            "rows_bad": self.rows_bad,
        }

    def run(self) -> NationalResult:
        self.state = "reading"
        result = NationalResult("done", 0, 0)
        try:
            self._read_all(result)
        except Exception as exc:
            result.state, result.error = "stopped", str(exc)[:300] or type(exc).__name__
            log.failure("the national do-not-call list was not imported")
        self.result = result
        self.state = result.state
        return result

    def _read_all(self, result: NationalResult) -> None:
        f = self.file
        self.bytes_total = os.fstat(f.fileno()).st_size
        f.seek(0)
        numbers, bad = read_numbers(f)  # as ``ccbox dnc import`` reads it
        self._read = self.bytes_total
        self.rows_ok = result.rows_ok = len(numbers)
        self.rows_bad = result.rows_bad = len(bad)
        result.bad = [BadRow(line, reason) for line, reason in bad[:MAX_BAD_KEPT]]
        if self._cancel.is_set():
            result.state = "cancelled"
            return
        if not numbers:
            result.state = "refused"
            result.error = N_("no number in the file: the national list was not changed")
            return
        if result.rows_bad and not self.skip_bad:
            result.state = "refused"
            result.error = N_(
                "lines that are not numbers ({n}): the national list was not changed (correct"
                " them, or upload again with those lines left out)",
                n=result.rows_bad,
            )
            return
        call: Any = blockingCallFromThread
        call(self.reactor, self.replace, numbers, self.list_date)
