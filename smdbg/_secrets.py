"""What counts as a secret, and how it is hidden in what smdbg writes or shows.

A value is a secret when its *name* says so: a variable or key whose upper-cased name contains
``SECRET``, ``TOKEN``, ``PASSWORD``, ``PASSWD``, ``CREDENTIAL`` or ``PRIVATE_KEY``, or ends in
``_KEY`` (``AWS_SECRET_ACCESS_KEY``, ``GITHUB_TOKEN``, ``DB_PASSWORD``, ``API_KEY``...). Any value
may also carry a credential in a URL (``postgresql://user:pass@host/db``); that part is hidden
wherever the value is written, whatever its name.

Redaction happens where smdbg writes or shows a value (job spec files, job descriptions, logs);
the process that needs the real value (a job's worker) still gets it, through memory only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "is_secret_name", "redact_url", "redact_value", "redact_env", "SecretMask"]

REDACTED = "***"

_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE_KEY")
# scheme://user:password@ (the password part is hidden) or scheme://token@ (the user part is a token)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*)(?::(?P<pw>[^/@\s]*))?@"
)
# A query parameter whose name says it carries a secret (``?token=...``, ``&api_key=...``).
SECRET_PARAM = re.compile(r"token|secret|passw|pwd|key|sig|auth|credential|session|code", re.I)
_QUERY_VALUE = re.compile(r"(?P<lead>[?&])(?P<name>[^=&\s#]+)=(?P<value>[^&\s#]*)")
MIN_MASKED_LENGTH = 4  # shorter secret values are not masked in free text (too many false hits)


def is_secret_name(name: str) -> bool:
    """Whether a variable or key of this name holds a secret (by its name alone)."""
    upper = name.upper()
    return upper.endswith("_KEY") or upper == "KEY" or any(w in upper for w in _SECRET_WORDS)


def redact_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ``***``
    (``scheme://user:***@``), a lone ``scheme://token@`` user part, and the values of
    secret-looking query parameters of a URL (``?token=***``)."""

    def hide(m: re.Match[str]) -> str:
        if m.group("pw") is not None:
            return f"{m.group('scheme')}{m.group('user')}:{REDACTED}@"
        return f"{m.group('scheme')}{REDACTED}@" if m.group("user") else m.group(0)

    def hide_param(m: re.Match[str]) -> str:
        secret = SECRET_PARAM.search(m.group("name")) is not None
        return f"{m.group('lead')}{m.group('name')}={REDACTED if secret else m.group('value')}"

    text = _URL_CREDENTIALS.sub(hide, text)
    return _QUERY_VALUE.sub(hide_param, text) if "://" in text else text


def redact_value(name: str, value: str) -> str:
    """What to write for ``name=value``: ``***`` for a secret name, else the value with URL
    credentials hidden."""
    return REDACTED if is_secret_name(name) else redact_url(value)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` fit to write to disk or show: secret values replaced by ``***``."""
    return {k: redact_value(k, v) for k, v in env.items()}


class SecretMask:
    """Replaces known secret values in free text (a job's log lines), as CI systems mask secrets.

    Built from the environments handed to a job: the values of secret names, and the passwords
    of URLs in any value. Values shorter than :data:`MIN_MASKED_LENGTH` are left alone."""

    def __init__(self, envs: Iterable[Mapping[str, str]] = ()) -> None:
        values: set[str] = set()
        for env in envs:
            for k, v in env.items():
                if is_secret_name(k):
                    values.add(v)
                for m in _URL_CREDENTIALS.finditer(v):
                    values.add(m.group("pw") if m.group("pw") is not None else m.group("user"))
        # longest first, so a secret that contains another is masked whole
        self._values = sorted((v for v in values if len(v) >= MIN_MASKED_LENGTH), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __call__(self, text: str) -> str:
        for v in self._values:
            if v in text:
                text = text.replace(v, REDACTED)
        return redact_url(text) if "@" in text else text
