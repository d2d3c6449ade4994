"""The SageMaker Python SDK v2 tests' fixtures (defined in ``_sdk_services``, a module with a name of
its own so that the test modules can import its helpers)."""

from _sdk_services import services, session  # noqa: F401

__all__ = ["services", "session"]
