"""Property-based fuzzing of the REST API from its OpenAPI document (schemathesis), on the real stack.

Schemathesis generates valid and invalid requests for every operation of
contracts/openapi/task-api.openapi.yaml (examples, boundary values, random data, and stateful
sequences that follow the document's links: create -> get/update/complete/reopen/delete), sends
them with a valid bearer token of a fresh user, and checks each answer: no 5xx, status code,
content type, headers and body as documented, auth enforced (a request without the token is
refused), and a deleted task is gone. Any finding fails this test with schemathesis' report
(each failure comes with a curl command that reproduces it).

Bounded: at most TODO_FUZZ_MAX_EXAMPLES (default 50) generated cases per operation and phase, a
fixed seed (TODO_FUZZ_SEED, default below) so CI runs are repeatable, and a hard time limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "contracts" / "openapi" / "task-api.openapi.yaml"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
]
OPERATIONS = 13
TIME_LIMIT_S = 900


def test_schemathesis_finds_no_server_error_and_no_contract_violation(stack, new_user, tmp_path):
    user = new_user()
    seed = os.environ.get("TODO_FUZZ_SEED", "20260501")
    max_examples = os.environ.get("TODO_FUZZ_MAX_EXAMPLES", "50")
    junit = tmp_path / "junit.xml"
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", str(DOC),
        "--url", stack.host_url,
        "--header", f"Authorization: Bearer {user.token}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", max_examples,
        "--seed", seed,
        "--workers", "1",  # 2 threads trip a CPython 3.11.7 ast.parse race inside hypothesis
        "--request-timeout", "30",
        "--generation-database", "none",
        "--report", "junit", "--report-junit-path", str(junit),
        "--no-color",
    ]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIME_LIMIT_S, cwd=tmp_path)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"schemathesis did not finish within {TIME_LIMIT_S}s:\n{(e.stdout or b'')[-4000:]!r}") from None
    report = f"schemathesis (seed {seed}, max {max_examples} examples) exited {p.returncode}:\n{p.stdout[-30000:]}\n{p.stderr[-5000:]}"
    print(report)
    assert p.returncode == 0, report

    suites = ET.parse(junit).getroot()
    cases = suites.findall(".//testcase")
    names = {c.get("name") for c in cases}
    bad = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert not bad, f"failures in {bad}\n{report}"
    assert len(names) >= OPERATIONS, f"only {len(names)} operations were tested: {sorted(names)}\n{report}"
