"""Plugins used by the tests: one that raises, one that overrides risk, one that listens."""
