"""Entry point of the job supervisor process: ``python -m smdbg.platform.jobs._supervise JOB_DIR``."""

from __future__ import annotations

import sys

from smdbg.platform.jobs._supervisor import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
