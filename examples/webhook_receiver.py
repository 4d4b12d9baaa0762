#!/usr/bin/env python3
"""A queuecast webhook receiver that checks the signature (Python standard library only).

    QUEUECAST_WEBHOOK_SECRET=... python3 webhook_receiver.py 8099

Each request carries:
  X-Queuecast-Event-Id   <pbx>:<epoch>:<seq>, the same on every retry: deduplicate by it
  X-Queuecast-Timestamp  Unix seconds when this try was signed
  X-Queuecast-Signature  sha256=<hex HMAC-SHA256(secret, "<timestamp>.<signed>")>
where <signed> is the exact request body (POST) or the exact query string after "?" (GET).
Answer 2xx once the event is stored: anything else is retried, so a duplicate id must be answered 2xx too.

`verify` is the part to copy. Run with `--check SECRET TIMESTAMP SIGNED SIGNATURE` it only prints
"valid" or "invalid" (queuecast's tests use that to check this file against the gateway's real requests).
"""

import hashlib
import hmac
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

# A signature older than this is refused, so a captured request cannot be replayed later.
MAX_AGE_S = 300


def verify(secret: bytes, timestamp: str, signed: bytes, signature: str, now: float = None) -> bool:
    """True when `signature` is the gateway's for `signed` at `timestamp`, and recent enough."""
    if now is not None and (not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_AGE_S):
        return False
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Handler(BaseHTTPRequestHandler):
    seen = set()

    def handle_one(self, signed: bytes):
        secret = os.environ["QUEUECAST_WEBHOOK_SECRET"].encode()
        ok = verify(
            secret,
            self.headers.get("X-Queuecast-Timestamp", ""),
            signed,
            self.headers.get("X-Queuecast-Signature", ""),
            now=time.time(),
        )
        if not ok:
            self.send_response(401)
            self.end_headers()
            return
        event_id = self.headers.get("X-Queuecast-Event-Id")
        if event_id not in Handler.seen:
            Handler.seen.add(event_id)
            print(event_id, signed.decode(), flush=True)
        self.send_response(204)
        self.end_headers()

    def do_POST(self):
        self.handle_one(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def do_GET(self):
        self.handle_one(urlsplit(self.path).query.encode())


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--check":
        _, _, secret, timestamp, signed, signature = sys.argv
        print("valid" if verify(secret.encode(), timestamp, signed.encode(), signature) else "invalid")
    else:
        HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8099), Handler).serve_forever()
