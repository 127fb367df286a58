"""MINOR means a consumer of the older MINOR accepts it (issue 7, point 5), as a property.

For every change in the checker's rule pairs (`tools/contracts/tests/pairs/*.json`) that the
checker classifies MINOR or PATCH, both directions hold for the services' consumer path:

- events valid under the new schema (generated, plus the pair's examples) are accepted by the
  consumer path built with the old schema, and
- events valid under the old schema are accepted by the consumer path built with the new one.

Events are generated as producers make them: only the fields their schema declares (see
`harness.closed`). Each event carries the producer's `schema_version` (old 1.0.0; new 1.0.1 for
PATCH, 1.1.0 for MINOR), so the consumer's version policy runs too. A pair whose schema is not a
whole event schema is carried as `{"schema_version": ..., "payload": <instance>}`.

The property can fail: a MAJOR pair released as if it were a MINOR (new events stamped 1.1.0)
gives events that the old consumer drops (`test_a_major_change_released_as_minor_breaks_old_consumers`).
"""

from __future__ import annotations

import json

import pytest

from harness import (
    NEW_VERSION,
    OLD_VERSION,
    closed,
    consumer_decisions,
    enveloped,
    generate,
    load_pairs,
    property_seed,
    versioned,
)

PAIRS = load_pairs()
COMPATIBLE = [p for p in PAIRS if p["bump"] in ("MINOR", "PATCH")]
# Generated instances per pair and direction (at least 100, as issue 7 asks).
COUNT = 150
SUMMARY: list[str] = []


def _consumer_schema(pair: dict, side: str, version: str) -> dict:
    schema = pair[side]
    return versioned(schema, version) if pair.get("topic") else enveloped(schema, version)


def _events(pair: dict, side: str, version: str, instances: list) -> list:
    """Instances of `side`'s schema as the events its producer would publish at `version`."""
    if pair.get("topic"):
        return [dict(i, schema_version=version) if isinstance(i, dict) else i for i in instances]
    return [{"schema_version": version, "payload": i} for i in instances]


def _example_events(pair: dict, side: str, version: str) -> list:
    examples = pair["examples"][side]
    if pair.get("topic"):
        return examples  # whole events, with the version they were written with
    return _events(pair, side, version, examples)


def _rejected(decisions: list[dict], events: list) -> list[tuple[dict, dict]]:
    return [(e, d) for e, d in zip(events, decisions) if d["decision"] != "SUCCESS"]


def _show(rejected: list[tuple[dict, dict]], limit: int = 3) -> str:
    return "\n".join(f"  {json.dumps(e)[:400]}\n    -> {d.get('reason', d)}" for e, d in rejected[:limit])


def test_the_pairs_include_every_compatible_kind_of_change():
    names = {p["name"] for p in COMPATIBLE}
    assert "seed_1_1_0_adds_optional_assignee" in names
    assert {p["bump"] for p in COMPATIBLE} == {"MINOR", "PATCH"}
    assert len(COMPATIBLE) >= 13, sorted(names)


@pytest.mark.parametrize("direction", ["new->old", "old->new"])
@pytest.mark.parametrize("pair", COMPATIBLE, ids=lambda p: f"{p['group']}:{p['name']}")
def test_minor_and_patch_changes_are_compatible_both_ways(pair, direction):
    producer, consumer = direction.split("->")
    version = {"old": OLD_VERSION, "new": NEW_VERSION[pair["bump"]]}
    topic = pair.get("topic")

    instances = generate(closed(pair[producer]), COUNT, property_seed())
    generated = _events(pair, producer, version[producer], instances)
    examples = _example_events(pair, producer, version[producer])
    events = generated + examples

    # The producer's own consumer accepts what its producer sends (generator, examples and the
    # validator agree), so a failure below is about compatibility alone.
    own = consumer_decisions(_consumer_schema(pair, producer, version[producer]), events, topic)
    bad = _rejected(own, events)
    assert not bad, f"{pair['name']}: {producer} events its own schema's consumer refuses:\n{_show(bad)}"

    other = consumer_decisions(_consumer_schema(pair, consumer, version[consumer]), events, topic)
    bad = _rejected(other, events)
    assert not bad, (
        f"{pair['name']} ({pair['bump']}): {len(bad)} of {len(events)} events of the {producer} schema "
        f"({version[producer]}) are dropped by a consumer built with the {consumer} one ({version[consumer]}):\n{_show(bad)}"
    )
    distinct = len({json.dumps(e, sort_keys=True) for e in generated})
    SUMMARY.append(
        f"{pair['group']}:{pair['name']} {pair['bump']} {direction}: {len(generated)} generated "
        f"({distinct} distinct) + {len(examples)} examples, all accepted"
    )


# A MAJOR change the checker catches, released as if it were a MINOR: the property must fail.
BREAKING = [
    ("major", "enum_widened", True),
    ("major", "property_no_longer_required", True),
    ("major", "null_added_to_type", False),
    ("major", "max_length_up", False),
    ("major", "integer_widened_to_number", True),
    ("refs_and_combinators", "any_of_inner_loosening", False),
    ("seed", "seed_2_0_0_replaces_priority_by_priority_level", True),
]


@pytest.mark.parametrize("group,name,by_generation", BREAKING, ids=[f"{g}:{n}" for g, n, _ in BREAKING])
def test_a_major_change_released_as_minor_breaks_old_consumers(group, name, by_generation):
    (pair,) = [p for p in PAIRS if (p["group"], p["name"]) == (group, name)]
    assert pair["bump"] == "MAJOR"
    topic = pair.get("topic")
    instances = generate(closed(pair["new"]), COUNT, property_seed())
    generated = _events(pair, "new", "1.1.0", instances)
    examples = _events(pair, "new", "1.1.0", pair["examples"]["new"]) if not topic else [
        dict(e, schema_version="1.1.0") for e in pair["examples"]["new"]
    ]
    # (untyped: the Rust types are those of MAJOR 1, which a MAJOR change leaves behind)
    own = consumer_decisions(_consumer_schema(pair, "new", "1.1.0"), generated + examples)
    bad = _rejected(own, generated + examples)
    assert not bad, f"{name}: the new schema refuses its own events:\n{_show(bad)}"
    old = _consumer_schema(pair, "old", OLD_VERSION)
    dropped_generated = _rejected(consumer_decisions(old, generated, topic), generated)
    dropped_examples = _rejected(consumer_decisions(old, examples, topic), examples) if examples else []
    if by_generation:
        assert dropped_generated, f"{name}: no generated 1.1.0 event is dropped by the 1.0.0 consumer"
    assert dropped_generated or dropped_examples, f"{name}: nothing shows the break"
    SUMMARY.append(
        f"{group}:{name} MAJOR released as 1.1.0: the 1.0.0 consumer drops {len(dropped_generated)} of "
        f"{len(generated)} generated events and {len(dropped_examples)} of {len(examples)} examples"
    )
