"""How hard the fuzz tests push: a few seconds each in ``make test``, much longer in
``make fuzz``.

``make test`` runs every property derandomized (the same examples on every run, so CI is
stable) with a small example count; ``make fuzz`` sets ``CCBOX_FUZZ_EXAMPLES`` (examples per
property) and lets hypothesis explore at random, keeping what it finds in ``.hypothesis/``
so a failure replays on the next run.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("CCBOX_FUZZ_EXAMPLES", "0"))
# A property that takes longer than this on one input is a hang (a quadratic parse, a
# loop): generous, because the test machine's two cores are shared.
HANG = timedelta(seconds=5)


def fuzz(examples: int) -> settings:
    """The settings of one property: ``examples`` in ``make test``, the fuzz budget in
    ``make fuzz``."""
    common = {
        "deadline": HANG,
        "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    }
    if FUZZ_EXAMPLES:
        return settings(max_examples=FUZZ_EXAMPLES, derandomize=False, **common)  # type: ignore[arg-type]
    return settings(max_examples=examples, derandomize=True, database=None, **common)  # type: ignore[arg-type]
