#!/usr/bin/env python3
"""A slow receiver for the outbox's deliveries (log streams, SSF push,
back-channel logout), for `BENCH_STREAMS=1 scripts/bench-load`.

Every POST is read, held for DELAY_MS milliseconds, then answered with
STATUS (default 202). One thread per request, so grantor's per-destination
limit, not this server, decides how many requests wait at once. Prints
`listening PORT` once bound; on SIGTERM prints how many requests it got.
"""
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY = int(os.environ.get("DELAY_MS", "2000")) / 1000.0
STATUS = int(os.environ.get("STATUS", "202"))
count = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with lock:
            count += 1
        time.sleep(DELAY)
        self.send_response(STATUS)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), Handler)
server.daemon_threads = True


def stop(*_):
    print(f"received {count}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
