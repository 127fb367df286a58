"""The event-contract tests: the seed's events as the seed writes them, and the compatibility
property of MINOR/PATCH changes (see harness.py). They need cargo (to build `todo-contracts`) and
the venv of tests/requirements.txt; nothing is skipped."""

import sys
from pathlib import Path

# The helpers sit beside this file; keep them importable under any pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_terminal_summary(terminalreporter):
    """One line per checked pair and direction: how many events were generated and accepted."""
    lines = []
    for name in ("test_compatibility", "test_generated_events"):
        module = sys.modules.get(name)
        lines += getattr(module, "SUMMARY", []) if module else []
    if lines:
        terminalreporter.section("event contracts")
        for line in lines:
            terminalreporter.write_line(line)
