"""Run every tests/benchmarks/bench_*.py, print a table, write the results as JSON.

Each bench module has ``run() -> list[Result]``; every result names the baseline it was
measured against in the same run, so the ratio means something on any machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench.json")
    parser.add_argument("-k", default="", help="only modules whose name contains this")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    results = []
    for path in sorted((ROOT / "tests" / "benchmarks").glob("bench_*.py")):
        if args.k not in path.stem:
            continue
        module = importlib.import_module(f"tests.benchmarks.{path.stem}")
        print(f"running {path.stem} ...", flush=True)
        results.extend(module.run())
    width = max((len(r.name) for r in results), default=10)
    print(f"\n{'benchmark':{width}}  {'value':>12}  {'unit':10}  {'ratio':>7}  baseline")
    for r in results:
        print(
            f"{r.name:{width}}  {r.value:12.2f}  {r.unit:10}  {r.ratio:7.2f}  "
            f"{r.baseline} ({r.baseline_value:.2f})"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
