"""scripts/test-postgres.sh, as `make test` runs it: each start gets a server of its own, so
two test runs at once never stop each other's PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test-postgres.sh"
pytestmark = pytest.mark.integration


def run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CCBOX_TEST_PG_DIR"}
    done = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def answers(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select 1")).scalar() == 1
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture
def servers() -> Iterator[list[str]]:
    """Two servers started at once, as two `make test` runs would (stopped after)."""
    starts = [
        subprocess.Popen([str(SCRIPT), "start"], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    urls = [p.communicate(timeout=120)[0].strip() for p in starts]
    yield urls
    for url in urls:
        if url and Path(str(make_url(url).query["host"])).exists():
            run("stop", url)


def test_two_runs_get_two_servers_and_stopping_one_leaves_the_other(
    servers: list[str],
) -> None:
    first, second = servers
    dirs = [Path(str(make_url(url).query["host"])) for url in servers]
    assert dirs[0] != dirs[1] and all(d.is_dir() for d in dirs), servers
    assert answers(first) and answers(second)
    run("stop", first)
    assert not dirs[0].exists()  # the run's directory goes with its server
    assert not answers(first)
    assert answers(second)  # the other run's server is still there


def test_stop_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "stop", f"postgresql+psycopg://postgres@/postgres?host={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "not a server of this script" in done.stderr
    assert tmp_path.is_dir()
