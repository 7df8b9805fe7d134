"""pausa-gate: Pausa's gate inside any Python app, and its remote control for deploy pipelines."""

__version__ = "0.1.0"
