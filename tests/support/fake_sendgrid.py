"""A small SendGrid v3 stand-in: a real HTTP server on a thread, for tests and the benchmark.

It speaks `POST /v3/mail/send` well enough: checks the `Authorization: Bearer`
key (401 otherwise), parses the JSON (400 on a body SendGrid would refuse:
no personalizations, more than 1000, a personalization without `to`, no
content), records every call, and answers 202 — or what it was told for the
next calls:

    with FakeSendGrid(api_key="SG.test") as fake:
        app.config["SENDGRID_API_HOST"] = fake.url
        fake.fail_next(2, 429, retry_after=120)   # the next 2 calls: 429 with Retry-After
        fake.fail_next(1, 500)
        fake.fail_next(1, "hang")                 # hold the request until the client times out
        fake.reject("bad@example.com")            # any call to it: 400 naming its personalization
        fake.reject("bad@example.com", name_field=False)   # 400 without saying which one
        ...
        assert fake.calls[0].personalizations == 1000

The real `sendgrid` client talks to it through a real socket: nothing is mocked.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"
MAX_PERSONALIZATIONS = 1000


@dataclass
class Call:
    """One request the fake received (accepted or not)."""

    path: str
    authorization: str | None
    body: dict[str, Any] | None
    status: int | str  # what the fake answered, or "hang"

    @property
    def personalizations(self) -> int:
        return len((self.body or {}).get("personalizations") or [])

    @property
    def recipients(self) -> list[str]:
        return [to["email"] for p in (self.body or {}).get("personalizations") or [] for to in p.get("to", [])]

    def content(self, mime_type: str) -> str | None:
        for item in (self.body or {}).get("content") or []:
            if item.get("type") == mime_type:
                return item.get("value")
        return None


@dataclass
class _Plan:
    status: int | str
    retry_after: str | None = None


@dataclass
class FakeSendGrid:
    api_key: str = "SG.fake-key"
    hang_seconds: float = 30.0  # a "hang" holds the request at most this long (or until stop())
    latency: float = 0.0  # seconds every accepted call takes (to make workers overlap)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._plans: deque[_Plan] = deque()
        self._rejected: dict[str, bool] = {}  # address -> whether the 400 names its field
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------

    def fail_next(self, count: int, status: int | str, retry_after: float | str | None = None) -> None:
        """Answer the next `count` calls with `status` (an HTTP code, or "hang"), then 202 again."""
        with self._lock:
            for _ in range(count):
                self._plans.append(_Plan(status, None if retry_after is None else str(retry_after)))

    def reject(self, *emails: str, name_field: bool = True) -> None:
        """Refuse (400, the whole call) every call that has one of `emails` as a recipient, as SendGrid
        does for an address it will not accept; with `name_field` the error names the personalization."""
        with self._lock:
            for email in emails:
                self._rejected[email.lower()] = name_field

    def reset(self) -> None:
        with self._lock:
            self._plans.clear()
            self.calls.clear()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def accepted(self) -> list[Call]:
        return [call for call in self.calls if call.status == 202]

    def delivered(self) -> list[str]:
        """Every recipient of an accepted call, in order (duplicates kept)."""
        return [email for call in self.accepted for email in call.recipients]

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeSendGrid:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                fake._handle(self)

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-sendgrid", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the API ------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        authorization = request.headers.get("Authorization")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if request.path != "/v3/mail/send":
            return self._answer(request, Call(request.path, authorization, body, 404), 404,
                                {"errors": [{"message": "not found"}]})
        if authorization != f"Bearer {self.api_key}":
            return self._answer(request, Call(request.path, authorization, body, 401), 401,
                                {"errors": [{"message": "The provided authorization grant is invalid"}]})
        problem = self._invalid(body)
        if problem:
            return self._answer(request, Call(request.path, authorization, body, 400), 400,
                                {"errors": [{"message": problem}]})
        refused = self._refused(body)
        if refused:
            return self._answer(request, Call(request.path, authorization, body, 400), 400, {"errors": refused})
        with self._lock:
            plan = self._plans.popleft() if self._plans else _Plan(202)
            call = Call(request.path, authorization, body, plan.status)
            self.calls.append(call)
        if plan.status == HANG:
            self._stopping.wait(self.hang_seconds)
            return self._answer(request, None, 503, {"errors": [{"message": "hung"}]})
        headers = {"Retry-After": plan.retry_after} if plan.retry_after is not None else {}
        if plan.status == 202:
            if self.latency:
                self._stopping.wait(self.latency)
            return self._answer(request, None, 202, None, {"X-Message-Id": f"fake-{len(self.calls)}"})
        return self._answer(request, None, int(plan.status), {"errors": [{"message": "fake failure"}]}, headers)

    def _refused(self, body: dict[str, Any]) -> list[dict[str, str]]:
        """SendGrid's errors for the refused addresses in this call (empty: none refused)."""
        errors = []
        with self._lock:
            rejected = dict(self._rejected)
        for index, personalization in enumerate(body["personalizations"]):
            for to_index, to in enumerate(personalization.get("to") or []):
                name_field = rejected.get(str(to.get("email", "")).lower())
                if name_field is None:
                    continue
                error = {"message": "Does not contain a valid address.",
                         "help": "https://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"}
                if name_field:
                    error["field"] = f"personalizations.{index}.to.{to_index}.email"
                errors.append(error)
        return errors

    @staticmethod
    def _invalid(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "the request body is not JSON"
        personalizations = body.get("personalizations")
        if not personalizations:
            return "personalizations are required"
        if len(personalizations) > MAX_PERSONALIZATIONS:
            return f"at most {MAX_PERSONALIZATIONS} personalizations per call"
        if any(not p.get("to") for p in personalizations):
            return "every personalization needs a to"
        if not (body.get("from") or {}).get("email"):
            return "from is required"
        if not body.get("subject") and any(not p.get("subject") for p in personalizations):
            return "subject is required"
        content = body.get("content") or []
        if not content:
            return "content is required"
        if len(content) > 1 and content[0].get("type") != "text/plain":
            return "text/plain must come first"
        return None

    def _answer(self, request: BaseHTTPRequestHandler, call: Call | None, status: int,
                payload: Any, headers: dict[str, str] | None = None) -> None:
        if call is not None:
            with self._lock:
                self.calls.append(call)
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            request.send_response(status)
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            if data:
                request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass
