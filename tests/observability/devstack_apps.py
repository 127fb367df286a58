"""The dev stack's app-ids and their sidecars' metrics ports (tools/devstack/apps.tsv)."""

from __future__ import annotations

from pathlib import Path

APPS_TSV = Path(__file__).resolve().parents[2] / "tools" / "devstack" / "apps.tsv"


def apps() -> list[tuple[str, int]]:
    """(app-id, metrics port) of every line of apps.tsv."""
    rows = []
    for line in APPS_TSV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            app, _http, _grpc, metrics = line.split()[:4]
            rows.append((app, int(metrics)))
    return rows
