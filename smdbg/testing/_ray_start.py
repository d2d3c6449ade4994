"""``python -m smdbg.testing._ray_start start ...``: Ray's ``ray start``, keeping 127.0.0.1.

``ray start`` passes ``--node-ip-address`` and a joining node's ``--address`` through
``ray._private.services.resolve_ip_for_localhost``, which replaces a loopback host (127.0.0.1,
``localhost``) with the address this machine uses toward other hosts, so that other machines
could reach the node. With two nodes of one test cluster on one machine, Ray then registers them
under that address and its processes talk over it. This runs Ray's own command line with the
replacement turned off: every node registers, and is reached, at the address it was given.
"""

from __future__ import annotations

import sys

__all__: list[str] = []


def _as_given(host: str) -> str:
    if not host:
        raise ValueError(f"Malformed host: {host!r}")
    return host


if __name__ == "__main__":
    import ray._private.services as services
    from ray.scripts.scripts import main

    services.resolve_ip_for_localhost = _as_given
    sys.argv[0] = "ray"
    sys.exit(main())
