"""Real processes for the edge tests: Pausa and the sample shop under gunicorn, nginx and Caddy in front.

nginx and Caddy run from examples/edge unchanged; the helpers are in tests/support/edge.py. Missing
programs fail the tests (bench.edge_stack.MissingTool), never skip them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from bench import edge_stack
from tests.support.browser import browser, playwright_driver  # noqa: F401  (this package's Chromium)
from tests.support.edge import POLL_SECONDS, PROXIES, Pausa, pausa_process


@pytest.fixture(scope="session")
def pausa(tmp_path_factory) -> Iterator[Pausa]:
    with pausa_process(tmp_path_factory.mktemp("pausa")) as running:
        yield running


@pytest.fixture(scope="session")
def shop(tmp_path_factory) -> Iterator[edge_stack.Process]:
    with edge_stack.shop(tmp_path_factory.mktemp("shop"), poll_seconds=POLL_SECONDS) as running:
        yield running


@pytest.fixture(scope="session")
def proxies(tmp_path_factory, pausa, shop) -> Iterator[dict[str, edge_stack.Process]]:
    """nginx and Caddy, both in front of the same shop and Pausa, for the whole session."""
    directory = tmp_path_factory.mktemp("proxies")
    with contextlib.ExitStack() as stack:
        started = {
            "nginx": stack.enter_context(edge_stack.nginx(directory, shop.port, pausa.port)),
            "caddy": stack.enter_context(edge_stack.caddy(directory, shop.port, pausa.port)),
        }
        yield started
        for process in started.values():
            process.check_alive()


@pytest.fixture(params=PROXIES)
def edge(request, proxies) -> edge_stack.Process:
    """Each behaviour test runs through nginx, then through Caddy."""
    return proxies[request.param]


@pytest.fixture(autouse=True)
def _no_window_left(request):
    """Every test starts and ends with no window, whatever happened inside."""
    yield
    if "pausa" in request.fixturenames:
        pausa: Pausa = request.getfixturevalue("pausa")
        if pausa.window_active():
            pausa.off()
