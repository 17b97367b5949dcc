"""A recording proxy for scripts/compare-estimate.sh: forwards every request to the mock server
unchanged and appends each POST body (the request exactly as image-project sent it) as one JSON
line to a log, so the real run's input tokens can be counted from what was sent; a transcript
keeps a step's earlier messages only as a character count.

Usage: python record_requests.py LISTEN_PORT UPSTREAM_PORT LOG_FILE
"""
import http.server
import sys
import threading
import urllib.error
import urllib.request

listen_port, upstream_port, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
log_lock = threading.Lock()


class Proxy(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def forward(self, body):
        request = urllib.request.Request(
            f"http://127.0.0.1:{upstream_port}{self.path}",
            data=body,
            method=self.command,
            headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, headers, payload = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self.forward(None)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with log_lock, open(log_path, "ab") as log:
            log.write(body.replace(b"\n", b" ") + b"\n")
        self.forward(body)


http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Proxy).serve_forever()
