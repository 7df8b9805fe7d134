"""pausa-gate: Pausa's gate inside any Python app, and its remote control for deploy pipelines."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["PausaGate", "PausaGateASGI", "Viewer", "__version__"]

# Imported on first use: the server imports the pure modules of this package and needs none of these.
_LAZY = {"PausaGate": "wsgi", "PausaGateASGI": "asgi", "Viewer": "state"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pausa_gate' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
