"""The core layer's fixtures: a controllable clock and a fake store; no app, no database."""

from __future__ import annotations

import pytest

from tests.support.state_cache import FakeClock, Store


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store():
    return Store()
