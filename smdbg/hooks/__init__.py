"""Hooks: the framework-neutral core and one module per framework (loaded lazily)."""

from smdbg.hooks.base import BaseHook, current_hook

__all__ = ["BaseHook", "current_hook"]
