"""An endpoint under abuse: oversized, slow, deep and piled-up requests get a status, not a hang.

Real uvicorn server processes on 127.0.0.1, raw sockets where a well-behaved client cannot
produce the abuse.
"""

from __future__ import annotations

import http.client
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from _endpoint_helpers import endpoint_home, port_of, raw_exchange, request_head, sklearn_model_dir

from smdbg.platform.serving import (
    CodeExecutionWarning,
    EndpointLimits,
    InvocationError,
    Model,
    Predictor,
)

__all__ = ["endpoint_home"]  # fixture imported for pytest

ROW = b"0.1,0.2,0.3,0.4"


@pytest.fixture
def small_limits(endpoint_home: Path, tmp_path: Path) -> Iterator[Predictor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodeExecutionWarning)
        model = Model(str(sklearn_model_dir(tmp_path / "model")))
    limits = EndpointLimits(
        max_body_bytes=64 * 1024, header_timeout_s=0.5, body_timeout_s=0.5, max_json_depth=8
    )
    predictor = model.deploy(endpoint_name="guarded", limits=limits)
    yield predictor
    predictor.delete_endpoint()


def _still_serves(predictor: Predictor) -> None:
    assert predictor.ping()
    assert predictor.predict([[0.1, 0.2, 0.3, 0.4]]).shape == (1,)


def test_body_over_the_limit_is_413_before_it_is_read(small_limits: Predictor) -> None:
    port = port_of(small_limits.url)
    # Content-Length says 50 MB; the server answers from the headers alone.
    status, raw = raw_exchange(port, request_head("/invocations", 50 * 1024 * 1024))
    assert status == 413
    assert b"larger than this endpoint's limit of 65536 bytes" in raw
    # No Content-Length (chunked): refused once the streamed bytes pass the limit.
    chunk = b"%x\r\n%s\r\n" % (32 * 1024, b"1" * 32 * 1024)
    head = request_head("/invocations", None, extra="Transfer-Encoding: chunked\r\n")
    status, raw = raw_exchange(port, head, chunk * 3)
    assert status == 413 and b"passed this endpoint's limit" in raw
    # A body just under the limit is scored.
    body = b"\n".join([ROW] * ((64 * 1024) // (len(ROW) + 1)))
    status, raw = raw_exchange(port, request_head("/invocations", len(body)), body)
    assert status == 200
    # The Predictor knows the limit and says so without sending.
    with pytest.raises(InvocationError) as info:
        small_limits.predict(b"\n".join([ROW] * 10_000))
    assert info.value.status == 413 and "limit of 65536 bytes" in str(info.value)
    _still_serves(small_limits)


def test_deep_json_is_400_not_500(small_limits: Predictor) -> None:
    port = port_of(small_limits.url)
    for depth in (9, 30_000):  # 30,000 levels made json.loads recurse out (HTTP 500) before
        body = b"[" * depth + b"1" + b"]" * depth
        status, raw = raw_exchange(port, request_head("/invocations", len(body), "application/json"), body)
        assert status == 400, raw[:300]
        assert f"nested {depth} levels deep; this endpoint accepts at most 8".encode() in raw
    body = b'{"instances": [[0.1, 0.2, 0.3, 0.4]], "note": "[[[[[[[[[[[[[[[["}'  # brackets in a string
    status, raw = raw_exchange(port, request_head("/invocations", len(body), "application/json"), body)
    assert status == 200, raw[:300]
    _still_serves(small_limits)


def test_slow_headers_and_slow_bodies_are_timed_out(small_limits: Predictor) -> None:
    port = port_of(small_limits.url)
    # Headers that never finish: the server answers 408 and closes (the socket timeout is only a guard).
    status, raw = raw_exchange(port, b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert status == 408 and b"headers did not arrive in time" in raw
    # A connection that sends nothing at all is closed the same way.
    status, raw = raw_exchange(port, b"")
    assert status == 408
    # A body that stops halfway: 408 naming what arrived.
    status, raw = raw_exchange(port, request_head("/invocations", 1000), b"0.1,0.2")
    assert status == 408 and b"did not arrive within 0.5s (7 bytes received)" in raw
    _still_serves(small_limits)


SLOW_MODEL = """
import time
from pathlib import Path

def model_fn(model_dir):
    return Path(model_dir)

def input_fn(body, content_type):
    return body

def predict_fn(data, model_dir):
    if data == b"wait":
        (model_dir / "started").write_text("1")
        while not (model_dir / "go").exists():
            time.sleep(0.01)
    return [1.0]
"""


def test_ping_answers_while_the_model_works_and_saturation_is_503(
    endpoint_home: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "slow"
    model_dir.mkdir()
    (model_dir / "inference.py").write_text(SLOW_MODEL)
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="slow", limits=EndpointLimits(max_concurrency=1, max_queued=0)
    )
    port = port_of(predictor.url)
    results: list[int] = []

    def busy() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", "/invocations", body=b"wait", headers={"Content-Type": "text/csv"})
        results.append(conn.getresponse().status)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        while not (model_dir / "started").exists():  # the one worker thread is now held by the model
            assert worker.is_alive()
            threading.Event().wait(0.01)
        assert predictor.ping()  # the event loop is free
        with pytest.raises(InvocationError) as info:
            predictor.predict(b"other")
        assert info.value.status == 503 and "saturated" in info.value.body
    finally:
        (model_dir / "go").write_text("1")
        worker.join(120)
    assert results == [200]
    assert predictor.predict(b"other").tolist() == [1.0]
    predictor.delete_endpoint()


def test_large_numeric_csv_takes_the_arrow_path_with_the_same_answer() -> None:
    """Bodies of 256 KB and more are parsed by Arrow (off the interpreter lock); the result is the
    one the row-by-row parser gives, and a body Arrow cannot take still gets the named error."""
    import numpy as np

    from smdbg.platform.serving import BadRequest
    from smdbg.platform.serving._codec import _csv_numeric_arrow, decode

    rows = np.random.default_rng(2).normal(size=(20_000, 4)).round(6)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode() + b"\n\n"
    assert len(body) > 256 * 1024
    fast = decode(body, "text/csv")
    assert _csv_numeric_arrow(body) is not None
    np.testing.assert_array_equal(fast, rows)
    small = body[: 200 * 1024].rsplit(b"\n", 1)[0]  # under 256 KB: the row-by-row parser
    np.testing.assert_array_equal(decode(small, "text/csv"), rows[: len(decode(small, "text/csv"))])
    ragged = body + b"1.0,2.0\n"
    with pytest.raises(BadRequest, match="row 20001 has 2 values but row 1 has 4"):
        decode(ragged, "text/csv")
    text = body.replace(b"\n", b"\nabc,1,2,3\n", 1)
    with pytest.raises(BadRequest, match=r"value 'abc' in row 2, column 1 is not a number"):
        decode(text, "text/csv")
