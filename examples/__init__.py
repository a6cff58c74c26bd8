"""Worked examples for dacr users (importable from a checkout)."""
