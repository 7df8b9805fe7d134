"""A controllable clock and a fake store, for the state-cache tests (tests/core); no app."""

from __future__ import annotations

from pausa_gate.state import GateState


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Store:
    """The database, as the cache sees it: a version row and a snapshot, with call counters."""

    def __init__(self):
        self.version = 1
        self.windows = ()
        self.version_reads = 0
        self.loads = 0
        self.fail_reads: Exception | None = None
        self.fail_loads: Exception | None = None

    def read_version(self) -> int:
        self.version_reads += 1
        if self.fail_reads:
            raise self.fail_reads
        return self.version

    def load_state(self) -> GateState:
        self.loads += 1
        if self.fail_loads:
            raise self.fail_loads
        return GateState(version=self.version, windows=self.windows)

    def change(self, *windows) -> None:
        self.windows = windows
        self.version += 1

    @property
    def calls(self) -> tuple[int, int]:
        return self.version_reads, self.loads
