"""The replica stage (tests/replicas): reuses the end-to-end helpers (tests/e2e) and the fault
stage's workload and checks (tests/faults/test_faults.py) against the real stack running two
replicas of every service (`./dev up --replicas 2` or `./dev replica add all`)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for d in (TESTS / "e2e", TESTS / "faults"):
    if str(d) not in sys.path:
        sys.path.insert(0, str(d))
