"""Seeded, measured signal degradations."""
