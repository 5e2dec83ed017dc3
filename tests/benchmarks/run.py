"""Run every tests/benchmarks/bench_*.py, print a table, write the results as JSON.

Each bench module has ``run() -> list[Result]``; every result names the baseline it was
measured against in the same run, so the ratio means something on any machine, and says
whether higher or lower is better (``better``); ``gain`` is the ratio turned the right way
up (above 1: better than the baseline).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.harness import Result, table  # noqa: E402


def run_module(stem: str) -> list[Result]:
    """Each module in its own process: a reactor runs once per process, and one module's
    garbage or warm caches must not skew the next one's numbers."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import importlib; "
        "m = importlib.import_module('tests.benchmarks.' + sys.argv[2]); "
        "print('BENCH-JSON ' + json.dumps([r.__dict__ for r in m.run()]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), stem], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"{stem} failed:\n{proc.stdout}\n{proc.stderr}")
    out = proc.stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH-JSON "))
    return [Result(**r) for r in json.loads(line[len("BENCH-JSON ") :])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench.json")
    parser.add_argument("-k", default="", help="only modules whose name contains this")
    args = parser.parse_args(argv)
    results = []
    for path in sorted((ROOT / "tests" / "benchmarks").glob("bench_*.py")):
        if args.k not in path.stem:
            continue
        print(f"running {path.stem} ...", flush=True)
        results.extend(run_module(path.stem))
    print("\n" + table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
