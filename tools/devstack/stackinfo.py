"""The dev stack as its files describe it, read in one place for the tests, `./dev doctor` and the
benchmarks:

- `tools/devstack/apps.tsv` (in the repository): one line per app-id with its sidecar's HTTP,
  gRPC and metrics ports and the Spin variable that names the sidecar;
- `stack.env` and `secrets.env` in the run folder (`~/.cache/todo-events/run`, or
  `TODO_EVENTS_RUN`), which `./dev up` writes: the stack's addresses and generated secrets.

Import it after putting `tools/devstack` on `sys.path`. A missing file raises `StackMissing`, a
`SystemExit` whose message says what to run, so a script that does not catch it ends with that
message; the tests turn it into a failure (tests/e2e/support.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TODO_EVENTS_CACHE", Path.home() / ".cache" / "todo-events"))
RUN = Path(os.environ.get("TODO_EVENTS_RUN", CACHE / "run"))
APPS_TSV = ROOT / "tools" / "devstack" / "apps.tsv"


class StackMissing(SystemExit):
    """A file the running stack writes is not there: the stack is not up."""


def read_env(path: Path, required: bool = True) -> dict[str, str]:
    """`KEY=value` lines of `path` (stack.env, secrets.env); `{}` when it is missing and not
    `required`, else `StackMissing`."""
    if not path.is_file():
        if not required:
            return {}
        raise StackMissing(f"{path} is missing: the stack is not up (run ./dev up, or ./dev test)")
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def stack_env(required: bool = True) -> dict[str, str]:
    """The running stack's addresses (`RUN/stack.env`)."""
    return read_env(RUN / "stack.env", required)


def secrets(required: bool = True) -> dict[str, str]:
    """The running stack's generated secrets (`RUN/secrets.env`)."""
    return read_env(RUN / "secrets.env", required)


def database_url(required: bool = True) -> str:
    """The stack's PostgreSQL as a libpq connection string or URL (`RUN/database.env`, which `./dev
    up` writes, 0600): the embedded cluster, or `TODO_DATABASE_URL` when the user brought one."""
    env = read_env(RUN / "database.env", required)
    if "DATABASE_URL" not in env and required:
        raise StackMissing(f"{RUN / 'database.env'} names no DATABASE_URL: run ./dev up again")
    return env.get("DATABASE_URL", "")


@dataclass(frozen=True)
class App:
    """One line of apps.tsv."""

    app: str
    http: int
    grpc: int
    metrics: int
    var: str


def apps() -> list[App]:
    """Every app-id of apps.tsv, in its order."""
    out = []
    for line in APPS_TSV.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        app, http, grpc, metrics, var = line.split()[:5]
        out.append(App(app, int(http), int(grpc), int(metrics), var))
    return out


def app(app_id: str) -> App:
    """One app-id's line; `StackMissing` names the file when it is not there."""
    for a in apps():
        if a.app == app_id:
            return a
    raise StackMissing(f"{app_id} is not in {APPS_TSV}")
