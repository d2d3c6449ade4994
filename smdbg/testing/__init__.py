"""Reusable test suites (for backends and integrations built on smdbg)."""

__all__: list[str] = []
