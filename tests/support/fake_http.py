"""A tiny real HTTP server on a thread (127.0.0.1, a free port) for tests of outgoing HTTP calls.

It records every request and answers from a script: a status code, or "hang"
(hold the connection without answering until the server stops, so a client's
timeout fires). Use it as a context manager:

    with FakeHTTPServer() as server:
        server.script(500, 200)                # first request 500, then 200 (the last repeats)
        app.config["SLACK_WEBHOOK_URL"] = server.url("/hook")
        ...
        assert server.requests[0].json == {"text": ...}
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


class FakeHTTPServer:
    def __init__(self, *answers: int | str, body: bytes = b"ok"):
        self.requests: list[Recorded] = []
        self._answers: list[int | str] = list(answers) or [200]
        self._body = body
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------

    def script(self, *answers: int | str) -> None:
        """Answer the next requests with these, in order; the last one repeats."""
        with self._lock:
            self._answers = list(answers) or [200]

    def _next_answer(self) -> int | str:
        with self._lock:
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def url(self, path: str = "/") -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    fake.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                answer = fake._next_answer()
                if answer == HANG:
                    fake._stopping.wait(30)
                    self.close_connection = True
                    return
                self.send_response(int(answer))
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(fake._body)))
                self.end_headers()
                self.wfile.write(fake._body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
