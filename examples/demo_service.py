#!/usr/bin/env python3
"""A small flaky service for the Faultline demo (standard library only).

Its health check fails — "database connection pool exhausted" — until it is restarted
(POST /admin/restart; /admin/pool/reset and /admin/cache/clear heal it too). After a restart it
stays healthy for --healthy-secs seconds, then breaks again, so the demo's loop repeats:
the agent logs the failure, Faultline's playbook has the agent restart it, the health check
proves the fix, and the error is resolved — until it regresses.

    python3 examples/demo_service.py --port 8080 --healthy-secs 60
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"healthy_until": 0.0, "restarts": 0, "started": time.time()}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    healthy_secs = 60

    def reply(self, status, body):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            healthy = time.time() < state["healthy_until"]
            restarts = state["restarts"]
        if self.path == "/health":
            if healthy:
                self.reply(200, {"status": "ok", "restarts": restarts})
            else:
                self.reply(503, {"status": "unhealthy",
                                 "error": "database connection pool exhausted (20/20 connections in use)"})
        elif self.path == "/":
            self.reply(200, {"service": "demo-service", "healthy": healthy, "restarts": restarts})
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        if self.path in ("/admin/restart", "/admin/pool/reset", "/admin/cache/clear"):
            time.sleep(0.3)  # a restart takes a moment
            with lock:
                state["restarts"] += 1
                state["healthy_until"] = time.time() + self.healthy_secs
                restarts = state["restarts"]
            self.reply(200, {"done": self.path, "restarts": restarts,
                             "healthy_for_secs": self.healthy_secs})
        else:
            self.reply(404, {"error": "not_found"})

    def log_message(self, fmt, *args):
        print(f"demo-service: {self.command} {self.path} → {args[1] if len(args) > 1 else ''}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--healthy-secs", type=int, default=60, help="how long a restart helps")
    args = p.parse_args()
    Handler.healthy_secs = args.healthy_secs
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"demo-service: listening on http://{args.host}:{args.port} (unhealthy until restarted)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
