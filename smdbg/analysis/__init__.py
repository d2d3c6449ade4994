"""smdebug's ``smdebug.analysis`` module path: ``from smdbg.analysis.utils import no_refresh``."""

from smdbg.analysis.utils import no_refresh, refresh

__all__ = ["no_refresh", "refresh"]
