"""SigV4 on the control plane (auth turned on explicitly on 127.0.0.1): signed requests pass,
wrong keys, unsigned, tampered and expired requests get AWS's errors; secrets never reach the log.
Also: state survives a restart."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _api_server import ApiServer, start_api_server, stop_api_server
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

KEY_ID, SECRET = "AKIDSMDBGTEST", "s3cr3t-value-never-logged"


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("auth")
    creds = root / "creds.json"
    creds.write_text(json.dumps({"AccessKeyId": KEY_ID, "SecretAccessKey": SECRET}))
    server = start_api_server(root, ("--require-auth", "--credentials-file", str(creds)))
    try:
        yield server
    finally:
        stop_api_server(server)


def _client(server: ApiServer, key: str = KEY_ID, secret: str = SECRET, **config: Any) -> Any:
    import boto3

    return boto3.client("sagemaker", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, **config))  # fmt: skip


def _code(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_signed_request_passes(signed_server: ApiServer) -> None:
    sm = _client(signed_server)
    sm.create_experiment(ExperimentName="signed-ok")
    assert sm.describe_experiment(ExperimentName="signed-ok")["ExperimentName"] == "signed-ok"


def test_wrong_secret_unknown_key_unsigned(signed_server: ApiServer) -> None:
    code, status, message = _code(lambda: _client(signed_server, secret="wrong").list_models())
    assert (code, status) == ("InvalidSignatureException", 403) and "signature" in message
    code, status, message = _code(lambda: _client(signed_server, key="AKIDOTHER").list_models())
    assert (code, status) == ("UnrecognizedClientException", 403) and "AKIDOTHER" in message
    code, status, _ = _code(lambda: _client(signed_server, signature_version=UNSIGNED).list_models())
    assert (code, status) == ("MissingAuthenticationTokenException", 403)
    req = urllib.request.Request(signed_server.url + "/endpoints/x/invocations", data=b"1,2", method="POST",
                                 headers={"Content-Type": "text/csv"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert (
        e.value.code == 403 and e.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    )


def test_expired_signature(signed_server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    past = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)
    code, status, message = _code(lambda: _client(signed_server).list_models())
    assert (code, status) == ("InvalidSignatureException", 403) and "Signature expired" in message


def test_tampered_body(signed_server: ApiServer) -> None:
    """A body changed after signing no longer matches its signature."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host = signed_server.url.split("//")[1]
    request = AWSRequest("POST", signed_server.url + "/", data=b'{"ExperimentName": "a"}',
                         headers={"X-Amz-Target": "SageMaker.DescribeExperiment", "Host": host,
                                  "Content-Type": "application/x-amz-json-1.1"})  # fmt: skip
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    ok = urllib.request.Request(
        signed_server.url + "/", data=b'{"ExperimentName": "a"}', headers=headers, method="POST"
    )
    with pytest.raises(
        urllib.error.HTTPError
    ) as e:  # signed right: the answer is "not found", not an auth error
        urllib.request.urlopen(ok)
    assert "ResourceNotFound" in e.value.read().decode()
    bad = urllib.request.Request(
        signed_server.url + "/", data=b'{"ExperimentName": "b"}', headers=headers, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad)
    assert e.value.code == 403 and "InvalidSignatureException" in e.value.read().decode()


def test_secret_never_logged(signed_server: ApiServer) -> None:
    _code(lambda: _client(signed_server, secret="wrong").list_models())
    log = (signed_server.root / "server.log").read_text()
    assert SECRET not in log and "wrong" not in log.split()


def test_state_survives_restart(tmp_path: Path, s3_server: str) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes(b"x")
    first = start_api_server(tmp_path)
    try:
        first.client().create_model(
            ModelName="kept", PrimaryContainer={"ModelDataUrl": str(tmp_path / "model")}
        )
    finally:
        stop_api_server(first)
    second = start_api_server(tmp_path)
    try:
        desc = second.client().describe_model(ModelName="kept")
        assert desc["PrimaryContainer"]["ModelDataUrl"] == str(tmp_path / "model")
        assert (tmp_path / "api" / "api.db").is_file()
    finally:
        stop_api_server(second)
