"""The dev stack's app-ids and their sidecars' metrics ports, from tools/devstack/stackinfo.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "devstack"))
import stackinfo  # noqa: E402


def apps() -> list[tuple[str, int]]:
    """(app-id, metrics port) of every line of apps.tsv."""
    return [(a.app, a.metrics) for a in stackinfo.apps()]
