"""AWS Signature Version 4 checks for the control plane, with botocore's own signer.

The server rebuilds the request it received as a botocore ``AWSRequest`` (method, URL, the
headers the client says it signed, body), recomputes the signature with
``botocore.auth.SigV4Auth`` for the secret of the access key the request names, and compares
the two in constant time. The request's ``X-Amz-Date`` must be within :data:`MAX_SKEW_S` of
the server's clock. Secrets are never logged or put in an error message.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from collections.abc import Mapping
from pathlib import Path

from smdbg.platform.api._protocol import ApiError

__all__ = ["Credentials", "verify_request", "load_credentials", "MAX_SKEW_S", "AuthError"]

MAX_SKEW_S = 300.0  # AWS refuses requests signed more than 5 minutes away from its clock
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


class AuthError(ApiError):
    status = 403


class Credentials:
    """Access key id -> secret access key pairs the server accepts (repr shows ids only)."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        if not pairs:
            raise ValueError("credentials are empty: expected at least one access key id and its secret")
        for key, secret in pairs.items():
            if not key or not secret or not isinstance(key, str) or not isinstance(secret, str):
                raise ValueError(
                    f"credentials for access key id {key!r}: expected a non-empty id and secret (strings)"
                )
        self._pairs = dict(pairs)

    def secret(self, access_key_id: str) -> str | None:
        return self._pairs.get(access_key_id)

    def __repr__(self) -> str:
        return f"Credentials(access_key_ids={sorted(self._pairs)})"


def load_credentials(path: str | Path) -> Credentials:
    """Read ``{"AccessKeyId": ..., "SecretAccessKey": ...}`` or a list of such objects from a
    JSON file; a bad file raises ``ValueError`` naming it (never the secrets)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(
            f"credentials file {str(path)!r} cannot be read as JSON ({type(e).__name__})"
        ) from None
    items = data if isinstance(data, list) else [data]
    pairs: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or not {"AccessKeyId", "SecretAccessKey"} <= set(item):
            raise ValueError(
                f"credentials file {str(path)!r}: expected objects with AccessKeyId and SecretAccessKey"
            )
        pairs[str(item["AccessKeyId"])] = str(item["SecretAccessKey"])
    return Credentials(pairs)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def verify_request(
    credentials: Credentials,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime | None = None,
) -> str:
    """Check the request's SigV4 signature; returns the access key id, or raises
    :class:`AuthError` with AWS's code (``MissingAuthenticationTokenException``,
    ``IncompleteSignatureException``, ``InvalidSignatureException``,
    ``UnrecognizedClientException``)."""
    from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    authorization = _header(headers, "authorization")
    if not authorization:
        raise AuthError("the request is not signed: expected an AWS SigV4 Authorization header",
                        code="MissingAuthenticationTokenException")  # fmt: skip
    m = _AUTH.match(authorization.strip())
    amz_date = _header(headers, "x-amz-date")
    if m is None or not amz_date:
        raise AuthError("the Authorization header is not a complete AWS4-HMAC-SHA256 signature with X-Amz-Date",
                        code="IncompleteSignatureException")  # fmt: skip
    scope = m.group("cred").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise AuthError(f"credential scope {'/'.join(scope[1:])!r} is not <date>/<region>/<service>/aws4_request",
                        code="IncompleteSignatureException")  # fmt: skip
    key_id, day, region, service = scope[:4]
    secret = credentials.secret(key_id)
    if secret is None:
        raise AuthError(
            f"access key id {key_id!r} is not known to this server", code="UnrecognizedClientException"
        )
    try:
        signed_at = dt.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise AuthError(f"X-Amz-Date {amz_date!r} is not of the form YYYYMMDDTHHMMSSZ",
                        code="IncompleteSignatureException") from None  # fmt: skip
    current = now or dt.datetime.now(dt.timezone.utc)
    if abs((current - signed_at).total_seconds()) > MAX_SKEW_S or not amz_date.startswith(day):
        raise AuthError(
            f"Signature expired: {amz_date} is more than {int(MAX_SKEW_S)} s away from the server's time "
            f"{current.strftime(SIGV4_TIMESTAMP)}; check the client's clock",
            code="InvalidSignatureException",
        )
    names = m.group("headers").split(";")
    if "host" not in names:
        raise AuthError("SignedHeaders must include host", code="IncompleteSignatureException")
    signed = {}
    for name in names:
        value = _header(headers, name)
        if value is None:
            raise AuthError(
                f"signed header {name!r} is not in the request", code="IncompleteSignatureException"
            )
        signed[name] = value
    request = AWSRequest(method=method, url=url, headers=signed, data=body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(BotoCredentials(key_id, secret), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected.encode(), m.group("sig").encode()):
        raise AuthError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            code="InvalidSignatureException",
        )
    return key_id
