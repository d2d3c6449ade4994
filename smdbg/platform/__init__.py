"""The thin platform around smdbg: jobs, AutoML, serving and monitoring."""

__all__: list[str] = []
