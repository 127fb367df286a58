"""The fault stage (tests/faults): reuses the end-to-end helpers (tests/e2e/support.py, clients.py,
mail.py) against the real, running stack."""

from __future__ import annotations

import sys
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))
