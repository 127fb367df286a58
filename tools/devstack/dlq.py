"""`./dev dlq`: the operator API's dead letters from a terminal (docs/deadletters.md).

    ./dev dlq list [topic=T] [consumer=C] [reason=R] [state=dead|retrying|redriven|all] [since=ISO] [limit=N]
    ./dev dlq show ID
    ./dev dlq redrive [--dry-run] ID...                     the letters with these ids
    ./dev dlq redrive [--dry-run] topic=T [consumer=C] [reason=R] [since=ISO]   every pending one matching
    ./dev dlq discard ID...                                 never re-drive these: no longer pending, kept

It signs an operator token (role "operator") with the stack's JWT secret and calls the stack's
API (HOST_URL); a 4xx is printed with the problem's detail and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt


def token() -> str:
    now = int(time.time())
    claims = {"sub": "operator", "roles": ["operator"], "iat": now, "exp": now + 600}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


def call(method: str, path: str, body: dict | None = None) -> dict:
    url = os.environ["HOST_URL"].rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("authorization", f"Bearer {token()}")
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            problem = json.loads(text)
            detail = problem.get("detail", text)
            fields = "; ".join(f"{x['field']}: {x['message']}" for x in problem.get("errors", []))
            sys.exit(f"dlq: {method} {path}: {e.code} {detail}" + (f" ({fields})" if fields else ""))
        except (ValueError, KeyError):
            sys.exit(f"dlq: {method} {path}: {e.code} {text[:500]}")
    except OSError as e:
        sys.exit(f"dlq: the stack's API at {url} does not answer ({e}); is it up? ./dev status")


def pairs(args: list[str]) -> dict:
    out = {}
    for a in args:
        if "=" not in a:
            sys.exit(f"dlq: {a!r} is not NAME=VALUE (topic, consumer, reason, state, since, limit)")
        k, v = a.split("=", 1)
        out[k] = v
    return out


def line(d: dict) -> str:
    return (f"#{d['id']:<6} {d['state']:<9} {d['topic']}/{d['consumer']:<13} "
            f"{(d.get('event_type') or '-'):<18} {d.get('event_id') or d['key'][:22]:<36} "
            f"attempts {d['attempts']} redrives {d['redrives']}  {d['reason_class']}: {d['reason'][:100]}")


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return
    cmd, rest = argv[0], argv[1:]
    if cmd == "list":
        q = pairs(rest)
        path = "/api/dead-letters" + ("?" + urllib.parse.urlencode(q) if q else "")
        page = call("GET", path)
        for d in page["items"]:
            print(line(d))
        print(f"{len(page['items'])} dead letters" + (" (more: next_cursor)" if page.get("next_cursor") else ""))
    elif cmd == "show" and len(rest) == 1:
        print(json.dumps(call("GET", f"/api/dead-letters/{urllib.parse.quote(rest[0])}"), indent=2))
    elif cmd == "redrive":
        dry = "--dry-run" in rest
        rest = [a for a in rest if a != "--dry-run"]
        ids = [a for a in rest if "=" not in a]
        body: dict = pairs([a for a in rest if "=" in a])
        if ids:
            try:
                body["ids"] = [int(i) for i in ids]
            except ValueError:
                sys.exit(f"dlq: ids are integers: {ids}")
        body["dry_run"] = dry
        answer = call("POST", "/api/dead-letters/redrive", body)
        for item in answer["items"]:
            why = f": {item['why']}" if item.get("why") else ""
            print(f"#{item['id']:<6} {item['outcome']:<13} {item['topic']}/{item['consumer']} "
                  f"{item.get('event_id') or '-'} (re-drives {item['redrives']}){why}")
        verb = "would re-drive" if dry else "re-drove"
        n = sum(1 for i in answer["items"] if i["outcome"] != "refused")
        print(f"{verb} {n} of {len(answer['items'])}; published {answer['published']} events")
    elif cmd == "discard" and rest:
        for i in rest:
            answer = call("POST", f"/api/dead-letters/{urllib.parse.quote(i)}/discard")
            print(f"#{i} {answer['items'][0]['outcome']}")
    else:
        sys.exit(__doc__.strip())


if __name__ == "__main__":
    main(sys.argv[1:])
