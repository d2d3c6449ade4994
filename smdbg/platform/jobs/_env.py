"""What a job's workers see of the caller's environment, and how secrets stay off the disk.

A worker gets the job contract's variables (``SM_*``, ``SMDBG_TRIAL_COMPONENT_NAME``...), the
few variables a Python program needs to start (:data:`ALWAYS`), the variables named by the
job's ``env_allowlist`` and by ``SMDBG_JOBS_ENV_ALLOWLIST``, and the job's explicit
``environment``/``env`` values. Nothing else of the caller's environment reaches it: no cloud
keys, no tokens, unless allowed by name.

What is written (``spec.json``, ``job.json``) holds every secret value as ``***``
(:mod:`smdbg._secrets`); the real values travel from the caller to the job's supervisor through
a pipe (:func:`split_secrets`, :func:`merge_secrets`), and every log line the supervisor keeps has
them masked.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from smdbg import _settings
from smdbg._secrets import is_secret_name, redact_env, redact_url

__all__ = ["ALWAYS", "check_allowlist", "caller_env", "split_secrets", "merge_secrets"]

#: passed to every worker when set: what a Python program needs to start and to find its packages,
#: smdbg's own non-secret settings, and where the S3 API is (never the credentials)
ALWAYS = (
    "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM",
    "PYTHONPATH", "PYTHONHASHSEED", "VIRTUAL_ENV",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "DGLBACKEND",
    "SMDBG_*", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
)  # fmt: skip


def check_allowlist(allowlist: Iterable[str] | None, what: str = "env_allowlist") -> list[str]:
    """The allowlist as a list of variable names or globs, or a ValueError naming the bad entry."""
    if allowlist is None:
        return []
    if isinstance(allowlist, str):
        raise ValueError(f"{what}={allowlist!r}: expected a list of variable names, e.g. ['HF_TOKEN']")
    out = []
    for entry in allowlist:
        if not isinstance(entry, str) or not entry or "=" in entry or any(c.isspace() for c in entry):
            raise ValueError(
                f"{what} entry {entry!r} is not a variable name or glob; expected e.g. 'HF_TOKEN' or 'MY_APP_*'"
            )
        out.append(entry)
    return out


def _setting_allowlist() -> list[str]:
    raw = _settings.JOBS_ENV_ALLOWLIST.get() or ""
    return check_allowlist([p.strip() for p in raw.split(",") if p.strip()], "SMDBG_JOBS_ENV_ALLOWLIST")


def caller_env(allowlist: Sequence[str] = ()) -> dict[str, str]:
    """The variables of this process a worker inherits: :data:`ALWAYS` (less secret names, which
    only an explicit allowlist entry lets through) and the allowlists' names."""
    patterns = [*ALWAYS, *allowlist, *_setting_allowlist()]
    explicit = [*allowlist, *_setting_allowlist()]
    out = {}
    for name, value in os.environ.items():  # forwarding, not reading a setting
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        if is_secret_name(name) and not any(fnmatch.fnmatchcase(name, p) for p in explicit):
            continue  # e.g. SMDBG_*_TOKEN: a secret passes only when allowed by name
        out[name] = value
    return out


def split_secrets(workers: list[dict[str, Any]], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace, in place, every secret in the workers' environments and the rule jobs' commands by
    its redacted form; return the real values (what :func:`merge_secrets` puts back)."""
    secrets: dict[str, Any] = {"workers": {}, "rules": {}}
    for w in workers:
        safe = redact_env(w["env"])
        real = {k: v for k, v in w["env"].items() if safe[k] != v}
        if real:
            secrets["workers"][w["host"]] = real
        w["env"] = safe
    for r in rules:
        safe_argv = [redact_url(a) for a in r["argv"]]
        if safe_argv != r["argv"]:
            secrets["rules"][r["name"]] = list(r["argv"])
        r["argv"] = safe_argv
    return secrets


def merge_secrets(spec: dict[str, Any], secrets: Mapping[str, Any]) -> None:
    """Put the real values back into a spec read from disk (in the supervisor, in memory only)."""
    for w in spec.get("workers", []):
        w["env"].update(secrets.get("workers", {}).get(w["host"], {}))
    for r in spec.get("rules", []):
        if r["name"] in secrets.get("rules", {}):
            r["argv"] = list(secrets["rules"][r["name"]])
