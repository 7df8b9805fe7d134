"""Pausa benchmarks: `make bench` or `.venv/bin/python -m bench` (see bench/__main__.py)."""
