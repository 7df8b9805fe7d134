"""Blueprints: thin adapters, one per concern."""
