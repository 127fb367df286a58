"""How the tests start headless Chromium (the web board's tests, tests/asyncapi's HTML check)."""

import os

CHROMIUM = os.environ.get("TODO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
