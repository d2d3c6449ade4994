"""Run Python as if only smdbg's core (numpy, pyarrow) were installed: every optional package is hidden.

usage: python _core_only.py -c CODE | -m MODULE ARGS...

A finder placed first on ``sys.meta_path`` answers every import of a hidden top-level package with
the ``ModuleNotFoundError`` Python raises for a package that is not installed, so the code under
test sees exactly what a core-only environment shows it, while the real environment stays intact.
"""

from __future__ import annotations

import runpy
import sys
from importlib.abc import MetaPathFinder

HIDDEN = frozenset(
    """pandas duckdb sqlalchemy psycopg psycopg2 s3fs fsspec boto3 botocore aiobotocore tensorboard google
    uvicorn starlette sklearn scipy optuna nbclient nbformat ipykernel docker datasketches matplotlib
    requests httpx joblib threadpoolctl h5py torch tensorflow keras mxnet dgl moto ray""".split()
)


class HideOptional(MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        top = fullname.split(".")[0]
        if top in HIDDEN:
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None


def main() -> None:
    sys.meta_path.insert(0, HideOptional())
    mode, arg, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "-c":
        sys.argv = ["-c", *rest]
        exec(compile(arg, "<core-only>", "exec"), {"__name__": "__main__"})
    elif mode == "-m":
        sys.argv = [arg, *rest]
        runpy.run_module(arg, run_name="__main__", alter_sys=True)
    else:
        raise SystemExit("usage: _core_only.py -c CODE | -m MODULE ARGS...")


if __name__ == "__main__":
    main()
