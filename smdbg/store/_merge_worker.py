"""The merge worker: ``python -m smdbg.store._merge_worker``, one long-lived child of a trial
writer (:class:`smdbg.store._merge_process.MergeProcess`) that computes merges off the
training process, so that they never hold its GIL.

Protocol, one JSON object a line: the parent writes ``{"url", "options", "job"}`` (the store as
:meth:`StoreFS.address` gives it, a :class:`~smdbg.store._merge.MergeJob`); the worker answers
``{"result": MergeResult}`` or ``{"error": "..."}`` and waits for the next. It exits at the end
of its input (the parent closed the pipe, or died).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from smdbg.store._merge import MergeJob, merge_segments
from smdbg.store.fs import StoreFS, open_fs


def answer(request: dict[str, Any], stores: dict[str, StoreFS]) -> dict[str, Any]:
    """The answer to one request (``stores``: the stores opened so far, by address)."""
    try:
        key = json.dumps([request["url"], request["options"]], sort_keys=True)
        if key not in stores:
            stores[key] = open_fs(request["url"], **request["options"])
        return {"result": merge_segments(stores[key], MergeJob(**request["job"])).to_json()}
    except Exception as e:  # noqa: BLE001 - sent to the parent, which decides
        return {"error": f"{type(e).__name__}: {e}"}


def serve(lines: TextIO, out: TextIO) -> None:
    stores: dict[str, StoreFS] = {}
    for line in lines:
        try:
            request = json.loads(line)
        except ValueError as e:
            reply: dict[str, Any] = {"error": f"a request that is not JSON ({e}): {line[:200]!r}"}
        else:
            reply = answer(request, stores)
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main() -> None:
    # The protocol owns the real stdout; anything else printed (by a library, even from C)
    # goes to stderr, which is the parent's.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        serve(sys.stdin, out)
    except KeyboardInterrupt:  # the terminal's Ctrl-C reached it: the parent decides
        pass


if __name__ == "__main__":
    main()
