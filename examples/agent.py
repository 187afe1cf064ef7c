#!/usr/bin/env python3
"""A Faultline agent in one file (standard library only).

It looks after one HTTP service: registers itself, sends heartbeats with a few metrics,
checks the service's health and logs failures (with their stack traces) to Faultline, and
runs the tasks Faultline hands it (restart_service, clear_cache, reset_pool) against the
service's admin endpoints, reporting each result.

    FAULTLINE_URL=http://127.0.0.1:3000 FAULTLINE_KEY=flt_... \\
        python3 examples/agent.py --name checkout-agent --service http://127.0.0.1:8080

The key needs the `ingest` scope (register, heartbeat, log) and `fix` (tasks).
"""

import argparse
import json
import os
import socket
import sys
import time
import traceback
import urllib.error
import urllib.request

VERSION = "1.0.0"
CAPABILITIES = ["restart_service", "clear_cache", "reset_pool"]


class Faultline:
    """The agent API: JSON server functions under /api/v1 with a bearer key."""

    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.key = key

    def call(self, name, body, timeout=40):
        req = urllib.request.Request(
            f"{self.url}/api/v1/{name}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise RuntimeError(f"{name}: HTTP {e.code}: {detail}") from None


def http(method, url, timeout=5):
    """Calls the service; returns (status, body) — status 0 when it cannot be reached."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, res.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class ServiceUnhealthy(Exception):
    """The service's health check failed."""


def check(service):
    """Raises ServiceUnhealthy when the health endpoint does not answer 200."""
    try:
        status, body = http("GET", f"{service}/health")
    except OSError as e:
        raise ServiceUnhealthy(f"{service} is not responding: {e}") from e
    if status != 200:
        raise ServiceUnhealthy(f"health check failed: {service}/health answered {status}: {body[:200]}")


TASKS = {
    "restart_service": ("POST", "/admin/restart"),
    "clear_cache": ("POST", "/admin/cache/clear"),
    "reset_pool": ("POST", "/admin/pool/reset"),
}


def run_task(service, task):
    """Runs one task against the service; returns (ok, output)."""
    if task["task"] not in TASKS:
        return False, f"unknown task {task['task']!r}; this agent can {', '.join(CAPABILITIES)}"
    method, path = TASKS[task["task"]]
    started = time.monotonic()
    try:
        status, body = http(method, f"{service}{path}")
    except OSError as e:
        return False, f"{method} {path} failed: {e}"
    took = time.monotonic() - started
    ok = 200 <= status < 300
    return ok, f"{method} {path} → {status} in {took:.2f} s: {body[:500]}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("FAULTLINE_URL", "http://127.0.0.1:3000"))
    p.add_argument("--key", default=os.environ.get("FAULTLINE_KEY"))
    p.add_argument("--name", default=f"agent-{socket.gethostname()}")
    p.add_argument("--service", default=os.environ.get("SERVICE_URL", "http://127.0.0.1:8080"))
    p.add_argument("--service-name", default="demo-service", help="the service name errors are logged under")
    p.add_argument("--interval", type=int, default=10, help="seconds between health checks")
    p.add_argument("--once", action="store_true", help="one round (register, check, one task) and exit")
    args = p.parse_args()
    if not args.key:
        sys.exit("set FAULTLINE_KEY (an API key with the ingest and fix scopes) or pass --key")

    fl = Faultline(args.url, args.key)
    fl.call("register_agent", {
        "name": args.name, "kind": "python-agent", "version": VERSION,
        "host": socket.gethostname(), "capabilities": CAPABILITIES,
        "metadata": {"service": args.service, "pid": os.getpid()},
    })
    print(f"registered {args.name} with {args.url}", flush=True)
    started, checks, failures = time.time(), 0, 0
    while True:
        checks += 1
        try:
            check(args.service)
        except ServiceUnhealthy as e:
            failures += 1
            fl.call("log_error", {
                "service": args.service_name, "severity": "error", "error_type": type(e).__name__,
                "message": str(e), "stack_trace": traceback.format_exc(), "agent": args.name,
                "details": {"service_url": args.service, "check": checks},
            })
            print(f"logged: {e}", flush=True)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        fl.call("heartbeat", {"agent": args.name, "status": "online", "metrics": {
            "uptime_s": round(time.time() - started), "checks": checks,
            "failed_checks": failures, "load_1m": load,
        }})
        task = fl.call("next_task", {"agent": args.name, "wait_secs": 0 if args.once else args.interval},
                       timeout=args.interval + 15)
        if task:
            ok, output = run_task(args.service, task)
            fl.call("complete_task", {"agent": args.name, "task_id": task["task_id"], "ok": ok, "output": output})
            print(f"task {task['task_id']} {task['task']}: {'ok' if ok else 'failed'}: {output}", flush=True)
        if args.once:
            return
        if not task:
            time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
