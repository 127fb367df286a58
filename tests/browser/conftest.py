"""Browser tests of the web board: headless Chromium (Debian's `chromium`, driven by Playwright for
Python, which launches it; no browser is downloaded) against the running stack, the board loaded
from Pushpin's URL like a user's browser does, so the REST API, MCP and the realtime stream are
the stack's own, same-origin.

Run alone they need a running stack (`./dev up`) that serves the board (`GET /` through Pushpin)
and the realtime service (`POST /realtime/tickets`), and fail with a message naming what is
missing; nothing is skipped. Screenshots of every page of every test, and each page's console,
go to `$TODO_EVENTS_RUN/logs/browser/` (default `~/.cache/todo-events/run/logs/browser/`).

Environment: `TODO_CHROMIUM` (default `/usr/bin/chromium`); `TODO_BOARD_URL` loads the board
from another origin that serves it and proxies the rest to Pushpin (a development aid; default:
`PUSHPIN_URL` of the stack).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from clients import Api, describe, mint_token  # noqa: E402  (tests/e2e)
from support import RUN, read_env  # noqa: E402  (tests/e2e)

from board import Board  # noqa: E402

from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (tests/browser/chromium.py)
SHOTS = RUN / "logs" / "browser"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "disruptive: stops part of the stack (e.g. Pushpin); run after every other test"
    )


def pytest_collection_modifyitems(session, config, items):
    """Tests that stop part of the stack run last, so a slow recovery cannot disturb the others."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@dataclass
class Urls:
    host: str  # the Spin app itself (tests' own REST and MCP calls: they work while Pushpin is down)
    pushpin: str  # what browsers use
    board: str  # where pages load the board (Pushpin's URL unless TODO_BOARD_URL says otherwise)


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    secrets = read_env(RUN / "secrets.env")
    if "JWT_SECRET" not in secrets:
        pytest.fail(f"JWT_SECRET is missing from {RUN / 'secrets.env'}", pytrace=False)
    return secrets["JWT_SECRET"]


def dev_token(secret: str, user_id: str) -> str:
    """A token like `./dev token <user>` prints (HS256, email user@todo.localhost)."""
    return mint_token(secret, user_id, exp_in=12 * 3600, email=f"{user_id}@todo.localhost")


@pytest.fixture(scope="session")
def urls(jwt_secret) -> Urls:
    env = read_env(RUN / "stack.env")
    for key in ("HOST_URL", "PUSHPIN_URL"):
        if key not in env:
            pytest.fail(f"{key} is missing from {RUN / 'stack.env'}: the stack is not up (./dev up)", pytrace=False)
    u = Urls(env["HOST_URL"], env["PUSHPIN_URL"], os.environ.get("TODO_BOARD_URL") or env["PUSHPIN_URL"])
    try:
        requests.get(f"{u.host}/.well-known/spin/health", timeout=5).raise_for_status()
    except requests.RequestException as e:
        pytest.fail(f"the Spin app at {u.host} is not up ({e}); is the stack up? (./dev status)", pytrace=False)
    try:
        r = requests.get(f"{u.board}/", timeout=10)
    except requests.RequestException as e:
        pytest.fail(f"nothing answers at {u.board} ({e}): is Pushpin running? (./dev status)", pytrace=False)
    if r.status_code != 200 or 'id="sign-in-form"' not in r.text:
        pytest.fail(
            f"{u.board}/ does not serve the web board ({describe(r)[:200]}): is the `web` component in "
            "spin.toml (routes / and /app/...) and the app restarted?",
            pytrace=False,
        )
    r = requests.post(f"{u.board}/realtime/tickets",
                      headers={"Authorization": f"Bearer {dev_token(jwt_secret, 'browser-probe')}"}, timeout=10)
    if r.status_code != 200 or "ticket" not in (r.json() if r.headers.get("content-type", "").startswith("application/json") else {}):
        pytest.fail(
            f"the realtime service does not issue tickets ({describe(r)[:200]}): is `realtime` in spin.toml and "
            "daprd-realtime running? (./dev status)",
            pytrace=False,
        )
    return u


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (tools/devstack/setup.sh does)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() gives the browser a fresh temporary profile (user-data dir) of its own.
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60000)
        yield b
        b.close()


@pytest.fixture
def new_user(urls, jwt_secret):
    """new_user(): a fresh user: the REST API as that user (`.token` is their dev token)."""

    def make() -> Api:
        user_id = f"web-{uuid.uuid4().hex[:12]}"
        return Api(urls.host, dev_token(jwt_secret, user_id), user_id)

    return make


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


@pytest.fixture
def open_board(request, browser, urls):
    """open_board(user, label): a new page (tab) of `user` with the board signed in, live.
    Pages of one user share a browser context (one profile, several tabs); each user has a
    context of their own. Every page is screenshot at the end of the test, pass or fail."""
    contexts: dict[str, object] = {}
    boards: list[Board] = []

    def make(user: Api, label: str, *, live: bool = True) -> Board:
        ctx = contexts.get(user.user_id)
        if ctx is None:
            ctx = contexts[user.user_id] = browser.new_context(viewport={"width": 1100, "height": 900})
        b = Board(ctx.new_page(), urls.board, user.user_id, label)
        boards.append(b)
        b.open().sign_in(user.token)
        if live:
            b.wait_live()
        return b

    yield make

    SHOTS.mkdir(parents=True, exist_ok=True)
    test = _file_name(request.node.name)
    for b in boards:
        stem = SHOTS / f"{test}-{b.label}"
        try:
            b.page.screenshot(path=str(stem.with_suffix(".png")), full_page=True, timeout=15000)
        except Exception as e:  # a screenshot must not hide the test's own outcome
            print(f"screenshot of {b.label} failed: {e}")
        stem.with_suffix(".console.txt").write_text("\n".join(b.console) + "\n")
    for ctx in contexts.values():
        ctx.close()


# ---- the dev stack's Pushpin (the disruptive test) ---------------------------------------------

DEV = ROOT / "dev"


def dev(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEV), *args], capture_output=True, text=True, timeout=timeout)


def pushpin_running() -> bool:
    out = dev("status").stdout
    return re.search(r"^pushpin\s+running", out, re.M) is not None


@pytest.fixture
def pushpin_control():
    """stop() and start() the stack's Pushpin; whatever happens, it runs again after the test."""

    class Control:
        def stop(self):
            r = dev("stop", "pushpin")
            assert r.returncode == 0, f"./dev stop pushpin failed: {r.stdout}{r.stderr}"

        def start(self):
            r = dev("start", "pushpin")
            assert r.returncode == 0, f"./dev start pushpin failed: {r.stdout}{r.stderr}"

    yield Control()
    if not pushpin_running():
        r = dev("start", "pushpin")
        if r.returncode != 0:
            pytest.fail(f"Pushpin could not be started again: {r.stdout}{r.stderr}", pytrace=False)

