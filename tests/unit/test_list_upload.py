"""The registry of list imports (webui/list_upload.py): few at once, the third refused with
a message; the temporary file closed when its job ends; a job found by its token only."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from webui.list_upload import MAX_RUNNING, UploadRefused, Uploads


class TempFile:
    """What the registry needs of the uploaded file: that it can be closed (and when)."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


class BlockedJob:
    """A job that runs until the test lets it finish (the registry's thread runs it)."""

    def __init__(self) -> None:
        self.state = "waiting"
        self.go = threading.Event()
        self.finished = threading.Event()

    def run(self) -> None:
        self.state = "reading"
        self.go.wait(10)
        self.state = "done"
        self.finished.set()

    def cancel(self) -> None:
        self.go.set()

    def progress(self) -> dict[str, Any]:
        return {"state": self.state}


def test_two_imports_run_at_once_the_third_is_refused_and_files_are_closed() -> None:
    uploads = Uploads()
    jobs: list[BlockedJob] = []
    files: list[TempFile] = []

    def make(_file: Any) -> BlockedJob:
        jobs.append(BlockedJob())
        return jobs[-1]

    started = []
    for n in range(MAX_RUNNING):
        files.append(TempFile())
        started.append(uploads.start("list", 1, 7, f"list{n}.csv", files[-1], make))  # type: ignore[arg-type]
    with pytest.raises(UploadRefused) as refused:
        uploads.start("list", 1, 7, "third.csv", TempFile(), make)  # type: ignore[arg-type]
    assert str(refused.value) == f"{MAX_RUNNING} imports are running: wait for one to finish."
    assert len(jobs) == MAX_RUNNING  # the refused one never started
    assert uploads.get(started[0].token) is started[0] and uploads.get("guess") is None
    assert uploads.latest("list", 7) is started[-1] and uploads.latest("list", 8) is None
    jobs[0].go.set()
    assert files[0].closed.wait(5)  # the registry's thread closes it right after the job
    assert not files[1].closed.is_set()
    # one finished: another may start
    files.append(TempFile())
    uploads.start("national", 1, None, "national.csv", files[-1], make)  # type: ignore[arg-type]
    uploads.cancel_all()  # lets every job end
    assert all(j.finished.wait(5) for j in jobs)
