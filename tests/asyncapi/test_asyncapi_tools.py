"""contracts/asyncapi.yaml through the official AsyncAPI tools (issue 22, points 1 and 3).

- `asyncapi validate` (@asyncapi/cli, pinned in tools/asyncapi/) accepts the document, failing on
  warnings too, with no network at all (run in a network namespace of its own), and refuses a
  broken copy (an invalid operation action, an example referencing a missing corpus file).
- `./dev docs` (`tools/asyncapi/asyncapi.sh docs`: `asyncapi generate fromTemplate` with
  @asyncapi/html-template) renders it to HTML; headless Chromium (Debian's `chromium`, driven by
  Playwright as in tests/browser) opens the page and finds every channel, message and operation.

Needs the tools installed (`tools/asyncapi/asyncapi.sh install`, which tools/devstack/setup.sh
runs); a missing tool fails with that instruction, nothing is skipped. Needs no running stack.
"""

from __future__ import annotations

import os
import sys
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "asyncapi" / "asyncapi.sh"
DOC = REPO / "contracts" / "asyncapi.yaml"
CACHE = Path(os.environ.get("TODO_EVENTS_CACHE", Path.home() / ".cache" / "todo-events"))
sys.path.insert(0, str(REPO / "tests" / "browser"))
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (how the board's tests start it)


def run(*args: str, timeout: float = 600, offline: bool = False) -> subprocess.CompletedProcess:
    cmd = [str(TOOL), *args]
    if offline:
        if not shutil.which("unshare"):
            pytest.fail("unshare (util-linux) is needed to run the CLI without a network", pytrace=False)
        cmd = ["unshare", "--net", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.fixture(scope="session", autouse=True)
def installed():
    if not (CACHE / "asyncapi" / "node_modules" / ".bin" / "asyncapi").exists():
        pytest.fail(
            f"the AsyncAPI CLI is not installed in {CACHE / 'asyncapi'}: run tools/asyncapi/asyncapi.sh install "
            "(tools/devstack/setup.sh does)",
            pytrace=False,
        )


def test_the_document_is_valid_offline():
    r = run("validate", offline=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"asyncapi validate failed ({r.returncode}):\n{out}"
    assert "contracts/asyncapi.yaml is valid" in out, out
    counts = re.search(r"\((\d+) errors?, (\d+) warnings?", out)
    assert counts is None or counts.groups() == ("0", "0"), out


def _copy_contracts(tmp_path: Path) -> Path:
    """contracts/ (the document, the generated schemas, the example corpus) in a scratch folder."""
    dst = tmp_path / "contracts"
    dst.mkdir()
    shutil.copy(DOC, dst / "asyncapi.yaml")
    shutil.copytree(REPO / "contracts" / "asyncapi", dst / "asyncapi")
    shutil.copytree(REPO / "contracts" / "events", dst / "events")
    return dst


def test_a_copy_validates_and_a_broken_operation_fails(tmp_path):
    dst = _copy_contracts(tmp_path)
    r = run("validate", str(dst / "asyncapi.yaml"), offline=True)
    assert r.returncode == 0, r.stdout + r.stderr  # the copy itself is fine
    doc = yaml.safe_load(DOC.read_text())
    doc["operations"]["auditReceivesTaskEvents"]["action"] = "subscribe"  # AsyncAPI 2's word
    (dst / "asyncapi.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    r = run("validate", str(dst / "asyncapi.yaml"), offline=True)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "operations.auditReceivesTaskEvents.action" in out or "/operations/auditReceivesTaskEvents/action" in out, out


def test_an_example_referencing_a_missing_corpus_file_fails(tmp_path):
    dst = _copy_contracts(tmp_path)
    (dst / "events" / "examples" / "task-events" / "valid" / "task-deleted.json").unlink()
    r = run("validate", str(dst / "asyncapi.yaml"), offline=True)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "task-deleted.json" in out, out


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("asyncapi-docs")
    r = run("docs", str(out), offline=True)
    assert r.returncode == 0, f"./dev docs failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    index = Path(r.stdout.strip().splitlines()[-1])
    assert index == out / "index.html" and index.stat().st_size > 10_000, (index, r.stdout)
    return index


def test_the_html_docs_show_every_channel_message_and_operation(docs):
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (tools/devstack/setup.sh does)", pytrace=False)
    from playwright.sync_api import sync_playwright

    doc = yaml.safe_load(DOC.read_text())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60000)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(docs.as_uri(), wait_until="load", timeout=60000)
            page.get_by_role("heading", name="Operations").first.wait_for(timeout=30000)
            page.screenshot(path=str(docs.with_name("index.png")), full_page=False)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert not errors, errors
    assert doc["info"]["title"] in text
    missing = []
    for key, channel in doc["channels"].items():
        if channel["address"] not in text:
            missing.append(f"channel {key} ({channel['address']})")
    for key, message in doc["components"]["messages"].items():
        if message["title"] not in text:
            missing.append(f"message {key}: its title {message['title']!r}")
        if not re.search(rf"Message ID\s*{re.escape(key)}\b", text):
            missing.append(f"message {key}: its id")
    for key, op in doc["operations"].items():
        if key not in text:
            missing.append(f"operation {key}")
    for name, server in doc["servers"].items():
        if server["host"] not in text:
            missing.append(f"server {name} ({server['host']})")
    assert not missing, f"not on the rendered page ({docs}):\n" + "\n".join(missing)
