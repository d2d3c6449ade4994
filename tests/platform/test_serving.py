"""A real endpoint (uvicorn subprocess) serving a scikit-learn model, with real HTTP requests."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest_serving import N_FEATURES, make_sklearn_model, module_home, read_capture_records, smdbg_home

from smdbg.platform.serving import (
    DataCaptureConfig,
    EndpointError,
    EndpointNotFound,
    InvocationError,
    Model,
    ModelLoadError,
    Predictor,
    list_endpoints,
)

__all__ = ["module_home", "smdbg_home"]  # fixtures imported for pytest


@pytest.fixture(scope="module")
def served(
    module_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Predictor, Any, Path]]:
    base = tmp_path_factory.mktemp("served")
    model_dir, model, _ = make_sklearn_model(base / "model")
    capture = base / "capture"
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="sk-served",
        data_capture_config=DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(capture)),
    )
    yield predictor, model, capture
    predictor.delete_endpoint()


def _post(port: int, body: bytes, content_type: str, accept: str | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    conn.request("POST", "/invocations", body=body, headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.getheader("content-type", ""), resp.read()
    conn.close()
    return out


def test_predict_csv_and_json_match_the_model(served: tuple[Predictor, Any, Path]) -> None:
    predictor, model, _ = served
    X = np.random.default_rng(5).normal(size=(7, N_FEATURES))
    got = predictor.predict(X)
    np.testing.assert_array_equal(got, model.predict(X).astype(float))
    as_json = Predictor("sk-served", content_type="application/json").predict(X)
    assert as_json == {"predictions": model.predict(X).tolist()}


def test_raw_http_ping_and_headerless_csv(served: tuple[Predictor, Any, Path]) -> None:
    predictor, model, _ = served
    port = int(predictor.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/ping")
    assert conn.getresponse().status == 200
    conn.close()
    row = [0.5, -1.0, 2.0, 0.1]
    status, ctype, body = _post(port, b"0.5,-1.0,2.0,0.1\n", "text/csv")
    assert status == 200 and ctype.startswith("text/csv")
    assert float(body.decode().strip()) == float(model.predict([row])[0])
    status, ctype, body = _post(port, json.dumps(row).encode(), "application/json")
    assert status == 200 and json.loads(body) == {"predictions": model.predict([row]).tolist()}
    status, ctype, body = _post(port, b"0.5,-1.0,2.0,0.1", "text/csv", accept="application/json")
    assert (
        ctype.startswith("application/json")
        and json.loads(body)["predictions"] == model.predict([row]).tolist()
    )


@pytest.mark.parametrize(
    ("body", "ctype", "status", "reason"),
    [
        (b'{"instances": [1, 2,', "application/json", 400, "not valid JSON"),
        (b"1,2,3,4\n1,2\n", "text/csv", 400, "row 2 has 2 values"),
        (b"1,2,oops,4\n", "text/csv", 400, "'oops' in row 1, column 3 is not a number"),
        (b"1,2,3\n", "text/csv", 400, "3 features but the model expects 4"),
        (b"", "text/csv", 400, "no rows"),
        (b"\xff\xfe", "text/csv", 400, "not UTF-8"),
        (b"1,2,3,4", "application/x-npy", 415, "'application/x-npy' is not supported"),
    ],
)
def test_bad_requests_get_a_reason_and_the_server_keeps_serving(
    served: tuple[Predictor, Any, Path], body: bytes, ctype: str, status: int, reason: str
) -> None:
    predictor, model, _ = served
    port = int(predictor.url.rsplit(":", 1)[1])
    got_status, _, got_body = _post(port, body, ctype)
    assert got_status == status
    assert reason in got_body.decode()
    with pytest.raises(InvocationError) as info:
        predictor.predict(body.decode(errors="replace") or "\n", initial_args={"ContentType": ctype})
    assert info.value.status == status
    assert predictor.predict([[0.0, 0.0, 0.0, 0.0]]).shape == (1,)


def test_capture_files_record_by_record(smdbg_home: Path, tmp_path: Path) -> None:
    model_dir, model, _ = make_sklearn_model(tmp_path / "model")
    dest = tmp_path / "capture"
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="cap-check",
        data_capture_config=DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(dest)),
    )
    rng = np.random.default_rng(1)
    sent = {}
    for i in range(25):
        rows = rng.normal(size=(1 + i % 3, N_FEATURES)).round(6)
        body = "\n".join(",".join(str(v) for v in r) for r in rows)
        predictor.predict(body, inference_id=f"req-{i}")
        sent[f"req-{i}"] = (body, model.predict(rows))
    json_body = json.dumps([[1.0, 2.0, 3.0, 4.0]])
    Predictor("cap-check", content_type="application/json").predict(json_body, inference_id="req-json")
    predictor.delete_endpoint()  # clean stop: everything queued is flushed

    files = sorted(dest.rglob("*"))
    jsonl = [f for f in files if f.is_file()]
    assert jsonl and all(f.suffix == ".jsonl" and not f.name.startswith(".") for f in jsonl)
    for f in jsonl:
        rel = f.relative_to(dest).as_posix()
        assert re.fullmatch(
            r"cap-check/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-i0-[0-9a-f-]{36}\.jsonl", rel
        ), rel
    records = read_capture_records(dest)
    assert len(records) == 26
    by_id = {r["eventMetadata"]["inferenceId"]: r for r in records}
    for rid, (body, pred) in sent.items():
        rec = by_id[rid]
        assert rec["eventVersion"] == "0"
        assert re.fullmatch(r"[0-9a-f-]{36}", rec["eventMetadata"]["eventId"])
        assert re.fullmatch(
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", rec["eventMetadata"]["inferenceTime"]
        )
        inp, out = rec["captureData"]["endpointInput"], rec["captureData"]["endpointOutput"]
        assert inp == {"observedContentType": "text/csv", "mode": "INPUT", "data": body, "encoding": "CSV"}
        assert (
            out["mode"] == "OUTPUT" and out["encoding"] == "CSV" and out["observedContentType"] == "text/csv"
        )
        assert [float(v) for v in out["data"].split()] == [float(p) for p in pred]
        hour = rec["eventMetadata"]["inferenceTime"]
        assert f"/{hour[:4]}/{hour[5:7]}/{hour[8:10]}/{hour[11:13]}/" in "/".join(
            f.as_posix() for f in jsonl if rid in f.read_text()
        )
    rec = by_id["req-json"]["captureData"]
    assert rec["endpointInput"]["encoding"] == "JSON" and rec["endpointInput"]["data"] == json_body
    assert json.loads(rec["endpointOutput"]["data"]) == {
        "predictions": model.predict([[1.0, 2.0, 3.0, 4.0]]).tolist()
    }
    assert list_endpoints() == []


def test_unwritable_destination_keeps_serving_and_writes_once_fixed(smdbg_home: Path, tmp_path: Path) -> None:
    model_dir, _, _ = make_sklearn_model(tmp_path / "model")
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the capture directory should be")
    dest = blocker / "capture"
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="cap-broken",
        data_capture_config=DataCaptureConfig(
            sampling_percentage=100, destination_s3_uri=str(dest), flush_interval_s=0.2
        ),
    )
    try:
        for _ in range(10):
            assert predictor.predict([[0.1, 0.2, 0.3, 0.4]]).shape == (1,)
        deadline = time.monotonic() + 60
        while (stats := predictor.capture_stats())["errors"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stats["errors"] >= 1 and str(blocker) in stats["last_error"]
        assert stats["written"] == 0 and stats["pending"] == 10
        assert "cannot write capture file" in Path(smdbg_home / "endpoints" / "cap-broken.log").read_text()
        blocker.unlink()  # the destination becomes writable: the kept records are written
        blocker.mkdir()
        deadline = time.monotonic() + 60
        while (stats := predictor.capture_stats())["written"] < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stats["written"] == 10 and stats["pending"] == 0
    finally:
        predictor.delete_endpoint()
    assert len(read_capture_records(dest)) == 10


def test_sklearn_pipeline_with_feature_names_from_tar_gz(smdbg_home: Path, tmp_path: Path) -> None:
    """The AutoML artifact contract: a DataFrame Pipeline plus metadata.json feature names."""
    import tarfile

    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "color": ["red", "blue"] * 3})
    y = df["size"] * 2 + (df["color"] == "red") * 10
    pipe = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["color"])], remainder="passthrough"), LinearRegression()
    ).fit(df, y)
    src = tmp_path / "best"
    src.mkdir()
    joblib.dump(pipe, src / "model.joblib")
    (src / "metadata.json").write_text(
        json.dumps({"feature_names": ["size", "color"], "framework": "sklearn"})
    )
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in src.iterdir():
            tar.add(f, arcname=f.name)
    model = Model(str(archive))
    assert model.framework == "sklearn"
    predictor = model.deploy(endpoint_name="automl-best")
    try:
        got = predictor.predict("2.5,red\n3,blue\n")
        expect = pipe.predict(pd.DataFrame({"size": [2.5, 3.0], "color": ["red", "blue"]}))
        np.testing.assert_allclose(got, expect)
        as_json = Predictor("automl-best", content_type="application/json").predict(
            [{"size": 2.5, "color": "red"}]
        )
        np.testing.assert_allclose(as_json["predictions"], expect[:1])
        with pytest.raises(InvocationError, match="3 features but the model expects 2"):
            predictor.predict("1,red,3\n")
    finally:
        predictor.delete_endpoint()


def test_bad_models_and_arguments(smdbg_home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no model artifact"):
        Model(str(empty))
    with pytest.raises(ModelLoadError, match="not a directory or a .tar.gz"):
        Model(str(tmp_path / "missing"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(EndpointError, match="cannot load sklearn model"):
        Model(str(broken)).deploy(endpoint_name="broken")
    assert list_endpoints() == []
    model_dir, _, _ = make_sklearn_model(tmp_path / "m")
    with pytest.raises(ValueError, match="instance_type 'ml.bogus.huge' is not known"):
        Model(str(model_dir)).deploy(instance_type="ml.bogus.huge")
    with pytest.raises(ValueError, match="endpoint name 'bad name!'"):
        Model(str(model_dir)).deploy(endpoint_name="bad name!")
    with pytest.raises(ValueError, match="sampling_percentage=120"):
        DataCaptureConfig(sampling_percentage=120, destination_s3_uri=str(tmp_path))
    with pytest.raises(ValueError, match="capture_options"):
        DataCaptureConfig(capture_options=["BODY"], destination_s3_uri=str(tmp_path))
    with pytest.raises(EndpointNotFound, match="no endpoint named 'nope'"):
        Predictor("nope")
