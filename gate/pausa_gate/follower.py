"""Follow Pausa's state feed in a background thread: the embedded gate's only traffic to Pausa.

One daemon thread per process long-polls `GET {url}/gate/state` (If-None-Match,
`?wait=25`), so a change reaches the host app as soon as Pausa sees it, and
keeps the last feed in memory and in `state_file`. Requests only read what it
holds: none of them ever waits for Pausa, except the very first one of a
process that knows nothing at all (no state file), which waits a moment for
the first answer so an ordinary start never shows the fail mode's page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import tempfile
import threading
import urllib.error
import urllib.request
import weakref
from pathlib import Path

from . import __version__
from .feed import Feed

log = logging.getLogger("pausa_gate")

FEED_PATH = "/gate/state"
WAIT_SECONDS = 25  # Pausa holds a long poll at most 30 s
FAIL_MODES = ("closed", "open")
MAX_FEED = 4 * 1024 * 1024  # a feed is a few kilobytes; never read an unbounded answer into memory
FIRST_RETRY = 0.5
LONGEST_RETRY = 10.0  # after an outage, a host app follows Pausa again within this


class Follower:
    """Hold the newest feed Pausa published, following it from a daemon thread of this process."""

    def __init__(
        self, url: str, token: str, state_file: str | os.PathLike[str] | None = None,
        fail_mode: str = "closed", timeout: float = 5.0, *, wait: int = WAIT_SECONDS, boot_wait: float = 2.0,
    ):
        if fail_mode not in FAIL_MODES:
            raise ValueError(f"fail_mode must be 'closed' or 'open', not {fail_mode!r}.")
        self.url = url.rstrip("/")
        self.state_file = Path(state_file) if state_file else None
        self.fail_mode = fail_mode
        self.timeout = timeout
        self.wait = wait
        self.boot_wait = boot_wait
        self._token = token
        self._held: Feed | None = None
        # What requests enforce: the held feed, or the fail mode's stand-in while none is known.
        self.feed: Feed = Feed.unknown(fail_mode)
        # True once this process follows the feed. The request path reads this flag (a fork clears
        # it) rather than comparing os.getpid(), which is a system call on every request.
        self.started = False
        self._pid: int | None = None
        self._etag: str | None = None
        self._start_lock = threading.Lock()
        self._lock = threading.Lock()
        self._known = threading.Event()
        self._stop = threading.Event()
        self._failing: set[str] = set()
        reference = weakref.ref(self)

        def forked() -> None:
            follower = reference()
            if follower is not None:
                follower._forked()

        os.register_at_fork(after_in_child=forked)

    # --- what requests read -----------------------------------------------------------------------------

    def current(self) -> Feed:
        """Return the feed to enforce: the newest known, or the fail mode's stand-in when none is."""
        if not self.started:  # first use in this process, or after a fork: its thread is not here
            self.start()
        return self.feed

    @property
    def known(self) -> bool:
        """Tell whether a real feed is held (from Pausa or the state file), not the fail mode's."""
        return self._held is not None

    def start(self) -> None:
        """Start following in this process: read the state file, start the thread, wait for a first feed."""
        with self._start_lock:  # concurrent first requests wait together for the same start
            if self.started and self._pid == os.getpid():
                return
            self._stop = threading.Event()
            self._known = threading.Event()
            if self._held is None:
                self._hold(self._read_state_file())
            if self._held is not None:
                self._etag = self._held.etag
                self._known.set()
            thread = threading.Thread(target=self._follow, name="pausa-gate-follower", daemon=True)
            thread.start()
            if not self._known.is_set() and self.boot_wait > 0:
                self._known.wait(self.boot_wait)
            self._pid = os.getpid()
            self.started = True

    def _forked(self) -> None:
        """In a forked child: the parent's thread is not here, and a lock it held would stay held."""
        self.started = False
        self._start_lock = threading.Lock()
        self._lock = threading.Lock()
        # What the parent held is kept: it is still the newest this process knows.

    def _hold(self, feed: Feed | None) -> None:
        if feed is not None:
            self._held = feed
            self.feed = feed

    def stop(self) -> None:
        """Stop following (tests; a daemon thread otherwise ends with its process)."""
        self._stop.set()

    # --- the thread ---------------------------------------------------------------------------------------

    def _follow(self) -> None:
        stop = self._stop
        delay = FIRST_RETRY
        while not stop.is_set():
            try:
                self._poll_once()
            except Exception as error:  # nothing may end the thread: the gate would stop following for good
                failure = error if isinstance(error, FeedFailure) else FeedFailure("unexpected", repr(error))
                self._failed(failure.kind, failure.detail)
                # Jittered, so the workers of every host app do not all come back in the same instant.
                stop.wait(random.uniform(delay / 2, delay))
                delay = min(delay * 2, LONGEST_RETRY)
                continue
            self._recovered()
            delay = FIRST_RETRY

    def _poll_once(self) -> None:
        """Ask for the feed once: a long poll when a version is held; adopt what comes back."""
        etag = self._etag
        wait = self.wait if etag else 0
        address = self.url + FEED_PATH + (f"?wait={wait}" if wait else "")
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                   "User-Agent": f"pausa-gate/{__version__}"}
        if etag:
            headers["If-None-Match"] = etag
        request = urllib.request.Request(address, headers=headers)  # noqa: S310 - PAUSA_URL is http(s), checked
        try:
            # The socket's bound is the long poll plus a margin: a silent Pausa is given up on.
            with urllib.request.urlopen(request, timeout=wait + self.timeout) as response:  # noqa: S310
                text = response.read(MAX_FEED + 1)
                new_etag = response.headers.get("ETag")
        except urllib.error.HTTPError as error:
            with contextlib.suppress(OSError):
                error.close()
            if error.code == 304:
                # A busy Pausa answers at once and names when to come back, instead of holding the poll.
                self._pause(error.headers.get("Retry-After"))
                return
            if error.code in (401, 403):
                raise FeedFailure("refused", f"Pausa refused the token (HTTP {error.code}): it needs a live "
                                  "token with the 'gate' scope") from None
            if error.code == 429:
                self._pause(error.headers.get("Retry-After"))
                raise FeedFailure("limited", "Pausa rate-limits this host's token attempts (429)") from None
            raise FeedFailure("answer", f"HTTP {error.code} from {address}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise FeedFailure("unreachable", f"{address}: {getattr(error, 'reason', error)}") from None
        if len(text) > MAX_FEED:
            raise FeedFailure("answer", f"the feed is over {MAX_FEED} bytes")
        try:
            feed = Feed.from_json(json.loads(text))
        except Exception as error:  # whatever a broken or foreign answer raises, it is not a feed
            raise FeedFailure("answer", f"not a feed Pausa's gate can read: {error}") from None
        self._etag = new_etag or feed.etag
        self.adopt(feed)

    def adopt(self, feed: Feed) -> bool:
        """Hold `feed` unless an newer version is held (never go back); True when taken."""
        with self._lock:
            held = self._held
            if held is not None and feed.state.version < held.state.version:
                self._failed("older", f"Pausa's feed is at version {feed.state.version}, older than the "
                             f"version {held.state.version} held: keeping the newer one")
                return False
            self._failing.discard("older")
            self._hold(feed)
        self._known.set()
        if held is None or feed.etag != held.etag:
            self._write_state_file(feed)
        return True

    def _pause(self, retry_after: str | None) -> None:
        """Wait as long as Pausa's Retry-After asks (at most a long poll), unless stopped."""
        if retry_after and retry_after.strip().isdigit():
            self._stop.wait(min(int(retry_after), self.wait or WAIT_SECONDS))

    # --- the state file -----------------------------------------------------------------------------------

    def _read_state_file(self) -> Feed | None:
        if self.state_file is None:
            return None
        try:
            text = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("cannot read the gate's state file %s: %s", self.state_file, error)
            return None
        try:
            return Feed.from_json(json.loads(text))
        except Exception as error:  # a damaged or foreign file is ignored, never trusted
            log.warning("ignoring the gate's state file %s: %s", self.state_file, error)
            return None

    def _write_state_file(self, feed: Feed) -> None:
        """Replace the file atomically: a crash leaves the old or the new feed, never half of one."""
        if self.state_file is None:
            return
        temporary = None
        try:
            data = feed.to_json()
            text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), sort_keys=True)
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            directory = self.state_file.parent
            handle, temporary = tempfile.mkstemp(prefix=f".{self.state_file.name}-", dir=directory)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.state_file)
            self._failing.discard("file")
        except OSError as error:
            self._failed("file", f"cannot write {self.state_file}: {error}")
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    # --- failures, each kind logged once until it is over -------------------------------------------------

    def _failed(self, kind: str, detail: str) -> None:
        if kind not in self._failing:
            self._failing.add(kind)
            log.warning("pausa-gate: %s (the last known state stays enforced)", detail)

    def _recovered(self) -> None:
        if self._failing - {"older", "file"}:
            self._failing &= {"older", "file"}
            log.warning("pausa-gate: Pausa's feed answers again")


class FeedFailure(Exception):
    """One failed look at the feed: its kind (logged once) and what happened."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
