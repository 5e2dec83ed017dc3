"""ccboxd caps glibc's malloc arenas: threads allocating at once share two, not one each."""

from __future__ import annotations

import os
import subprocess
import sys

# Eight threads allocating and freeing at the same time; then glibc's malloc_stats() lists
# each arena on stderr ("Arena 0:", "Arena 1:", ...).
PROBE = """
import ctypes, sys, threading
from appliance.malloc_arenas import limit_arenas
done = limit_arenas() if sys.argv[1] == "limit" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
start = threading.Barrier(8)
def churn():
    start.wait()
    for _ in range(20000):
        libc.free(libc.malloc(256))
threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(done)
libc.malloc_stats()
"""


def arenas(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | (env or {}),
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip(), sum(line.startswith("Arena ") for line in out.stderr.splitlines())


def test_the_daemons_threads_share_at_most_two_arenas() -> None:
    done, limited = arenas("limit")
    assert done == "True"
    assert 1 <= limited <= 2
    _, default = arenas("default")
    assert default > 2  # glibc's own default gives the contending threads more


def test_an_administrators_malloc_arena_max_wins() -> None:
    done, count = arenas("limit", {"MALLOC_ARENA_MAX": "4"})
    assert done == "False"
    assert count <= 4
