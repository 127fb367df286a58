"""The seed's own code, read from the seed document itself (`<repo>/../shared/seed/
phase-v-event-contracts.md`; TODO_SHARED_DIR overrides where shared/ is), so that tests use its
events and its publisher exactly as written there.

- `contract_test_events()`: the `event` dicts of "Contract Testing" (`test_task_created_event_validates`
  and `test_task_created_event_rejects_invalid`), as Python literals.
- `integration_test_event()`: a fresh `event_payload` of "Test Event Publishing", built by the seed's
  own expression (`str(uuid.uuid4())`, `datetime.utcnow().isoformat() + "Z"`).
- `publisher()`: the seed's `publish_task_event` ("Application Code Portability"), defined by the
  seed's own source text.
- `evolution_examples()`: the JSON blocks of "Schema Evolution Example", by version.
"""

from __future__ import annotations

import ast
import json
import os
import re
import uuid
import warnings
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TODO_SHARED_DIR", REPO.parent / "shared"))
SEED = SHARED / "seed" / "phase-v-event-contracts.md"


def text() -> str:
    if not SEED.is_file():
        pytest.fail(
            f"{SEED} is missing: shared/ must sit beside the repository (<repo>/../shared) "
            "or TODO_SHARED_DIR must point at it",
            pytrace=False,
        )
    return SEED.read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text(), flags=re.S)


def _python_block(marker: str) -> str:
    blocks = [b for b in code_blocks("python") if marker in b]
    assert len(blocks) == 1, f"the seed has {len(blocks)} python blocks with {marker!r}"
    return blocks[0]


def _dict_source(source: str, start: str) -> str:
    """The source of the dict literal that follows `start` (balanced braces)."""
    i = source.index(start) + len(start)
    i = source.index("{", i)
    depth = 0
    for j in range(i, len(source)):
        depth += {"{": 1, "}": -1}.get(source[j], 0)
        if depth == 0:
            return source[i : j + 1]
    raise AssertionError(f"unbalanced dict after {start!r}")


def contract_test_events() -> tuple[dict, dict]:
    """(the event that "should not raise", the one with missing required fields)."""
    block = _python_block("def test_task_created_event_validates")
    valid_src = _dict_source(block[block.index("def test_task_created_event_validates") :], "event =")
    invalid_src = _dict_source(block[block.index("def test_task_created_event_rejects_invalid") :], "event =")
    return ast.literal_eval(valid_src), ast.literal_eval(invalid_src)


def integration_test_event_source() -> str:
    return _dict_source(_python_block("def test_event_published_to_redpanda"), "event_payload =")


def integration_test_event() -> dict:
    """A new event built by the seed's own expression (fresh uuid4 ids, utcnow timestamp)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # datetime.utcnow on newer Pythons
        return eval(integration_test_event_source(), {"__builtins__": {"str": str}, "uuid": uuid, "datetime": datetime})  # noqa: S307


def publisher_source() -> str:
    return _python_block("def publish_task_event")


def publisher():
    """The seed's `publish_task_event(event_payload)`, defined from the seed's source."""
    namespace: dict = {}
    exec(compile(publisher_source(), str(SEED), "exec"), namespace)  # noqa: S102
    return namespace["publish_task_event"]


def evolution_examples() -> dict[str, dict]:
    """"1.0.0", "1.1.0", "2.0.0" -> the JSON example of that version."""
    section = text().split("### Schema Evolution Example", 1)[1].split("### Compatibility Rules", 1)[0]
    out = {}
    for version, block in re.findall(r"\*\*Version (\d+\.\d+\.\d+)\*\*.*?```json\n(.*?)```", section, flags=re.S):
        out[version] = json.loads(block)
    assert set(out) == {"1.0.0", "1.1.0", "2.0.0"}, sorted(out)
    return out
