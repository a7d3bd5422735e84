"""Helpers shared by the tests: fakes, builders and runners (no tests here)."""
