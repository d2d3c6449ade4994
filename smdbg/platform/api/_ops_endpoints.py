"""Endpoints and the runtime's InvokeEndpoint, on smdbg's serving layer.

``CreateEndpoint`` records the endpoint as ``Creating`` and deploys on a background thread
(fetch the model artifact, :meth:`smdbg.platform.serving.Model.deploy` with the config's data
capture), then ``InService`` (or ``Failed`` with the reason). ``UpdateEndpoint`` is
``Updating``: the old server stops, the new config's model starts. ``DeleteEndpoint`` is
``Deleting`` until the server has stopped, then the endpoint is gone (``DescribeEndpoint``
answers ``ValidationException``, which the ``endpoint_deleted`` waiter waits for).
"""

from __future__ import annotations

import http.client
import re
import threading
from typing import Any
from urllib.parse import urlsplit

from smdbg.platform.api._data import fetch_model
from smdbg.platform.api._ops_models import CONFIG, MODEL, capture_config, model_container
from smdbg.platform.api._protocol import ApiError, ValidationError
from smdbg.platform.api._registry import Context, check_name, now, operation, page, run_background
from smdbg.platform.api._state import arn

__all__ = ["invoke_endpoint", "resume_endpoints"]

ENDPOINT = "endpoint"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_PORTS: dict[str, int] = {}
_LOCAL = threading.local()


def _variant_doc(config: dict[str, Any], status: str) -> list[dict[str, Any]]:
    v = config["ProductionVariants"][0]
    return [{"VariantName": v.get("VariantName", "AllTraffic"), "CurrentWeight": 1.0, "DesiredWeight": 1.0,
             "CurrentInstanceCount": int(v.get("InitialInstanceCount") or 1),
             "DesiredInstanceCount": int(v.get("InitialInstanceCount") or 1),
             "DeployedImages": [], **({"VariantStatus": [{"Status": status}]} if status != "InService" else {})}]  # fmt: skip


def _capture_doc(config: dict[str, Any]) -> dict[str, Any] | None:
    capture = config.get("DataCaptureConfig")
    if not capture:
        return None
    return {"EnableCapture": bool(capture.get("EnableCapture", True)), "CaptureStatus": "Started"
            if capture.get("EnableCapture", True) else "Stopped",
            "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
            "DestinationS3Uri": capture.get("DestinationS3Uri")}  # fmt: skip


def _deploy(ctx: Context, name: str, config: dict[str, Any]) -> None:
    from smdbg.platform.serving import Model, delete_endpoint, list_endpoints

    variant = config["ProductionVariants"][0]
    model_doc = ctx.state.get(MODEL, variant["ModelName"], "model")
    container = model_container(model_doc)
    model_dir = fetch_model(
        container["ModelDataUrl"], ctx.workdir("models", check_name(model_doc["ModelName"], "ModelName"))
    )
    env = container.get("Environment") or {}
    entry = env.get("SAGEMAKER_PROGRAM")
    capture = config.get("DataCaptureConfig")
    if any(e.get("name") == name for e in list_endpoints()):
        delete_endpoint(name)
    model = Model(
        str(model_dir), entry_point=str(model_dir / entry) if entry else None, name=model_doc["ModelName"]
    )
    # the variant's ml.* type limits the server's CPUs and memory, as Model.deploy(instance_type=...)
    model.deploy(initial_instance_count=int(variant.get("InitialInstanceCount") or 1),
                 instance_type=variant.get("InstanceType") or "local", endpoint_name=name,
                 data_capture_config=capture_config(capture) if capture else None)  # fmt: skip
    _PORTS.pop(name, None)


def _transition(ctx: Context, name: str, config: dict[str, Any]) -> None:
    try:
        _deploy(ctx, name, config)
    except Exception as e:  # noqa: BLE001 - any deploy failure is the endpoint's FailureReason
        ctx.state.update(ENDPOINT, name, EndpointStatus="Failed", FailureReason=f"{type(e).__name__}: {e}",
                         LastModifiedTime=now())  # fmt: skip
        return
    ctx.state.update(ENDPOINT, name, EndpointStatus="InService", LastModifiedTime=now(),
                     ProductionVariants=_variant_doc(config, "InService"))  # fmt: skip


def resume_endpoints(ctx: Context) -> None:
    """After a restart: an endpoint left ``Creating``/``Updating`` by the previous server is
    ``Failed`` (its deploy thread is gone; ``UpdateEndpoint`` or delete it), one left
    ``Deleting`` is deleted now."""
    for doc in ctx.state.all(ENDPOINT):
        status, name = doc.get("EndpointStatus"), doc["EndpointName"]
        if status in ("Creating", "Updating"):
            ctx.state.update(ENDPOINT, name, EndpointStatus="Failed", LastModifiedTime=now(),
                             FailureReason=f"the API server restarted while the endpoint was {status}")  # fmt: skip
        elif status == "Deleting":
            delete_endpoint(ctx, {"EndpointName": name, "_resume": True})


@operation("CreateEndpoint")
def create_endpoint(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["EndpointName"]
    if not _NAME.match(name):
        raise ValidationError(
            f"EndpointName {name!r} is not valid: expected 1-63 letters, digits and hyphens, starting with a letter or digit"
        )
    config = ctx.state.get(CONFIG, p["EndpointConfigName"], "endpoint config")
    t = now()
    doc = {"EndpointName": name, "EndpointArn": arn("endpoint", name), "EndpointConfigName": config["EndpointConfigName"],
           "EndpointStatus": "Creating", "CreationTime": t, "LastModifiedTime": t,
           "ProductionVariants": _variant_doc(config, "Creating"), "DataCaptureConfig": _capture_doc(config)}  # fmt: skip
    ctx.state.create(ENDPOINT, name, doc, "endpoint")
    run_background(f"deploy-{name}", lambda: _transition(ctx, name, config))
    return {"EndpointArn": doc["EndpointArn"]}


@operation("DescribeEndpoint")
def describe_endpoint(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    doc = ctx.state.get(ENDPOINT, p["EndpointName"], "endpoint")
    if doc["EndpointStatus"] == "InService":  # an instance that exited is not counted as current
        from smdbg.platform.serving import EndpointNotFound
        from smdbg.platform.serving._predictor import alive_instances
        from smdbg.platform.serving._state import load_record

        try:
            alive = alive_instances(load_record(doc["EndpointName"]))
        except EndpointNotFound:
            alive = 0
        variants = [dict(v) for v in doc.get("ProductionVariants") or []]
        if variants:
            variants[0]["CurrentInstanceCount"] = alive
            doc = {**doc, "ProductionVariants": variants}
    return doc


@operation("UpdateEndpoint")
def update_endpoint(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["EndpointName"]
    doc = ctx.state.get(ENDPOINT, name, "endpoint")
    if doc["EndpointStatus"] not in ("InService", "Failed"):
        raise ValidationError(
            f"endpoint {name!r} is {doc['EndpointStatus']}: it can be updated when InService or Failed"
        )
    config = ctx.state.get(CONFIG, p["EndpointConfigName"], "endpoint config")
    ctx.state.update(ENDPOINT, name, EndpointStatus="Updating", EndpointConfigName=config["EndpointConfigName"],
                     LastModifiedTime=now(), FailureReason=None, DataCaptureConfig=_capture_doc(config))  # fmt: skip
    run_background(f"update-{name}", lambda: _transition(ctx, name, config))
    return {"EndpointArn": doc["EndpointArn"]}


@operation("DeleteEndpoint")
def delete_endpoint(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.serving import EndpointNotFound
    from smdbg.platform.serving import delete_endpoint as stop_server

    name = p["EndpointName"]
    doc = ctx.state.get(ENDPOINT, name, "endpoint")
    if doc["EndpointStatus"] in ("Creating", "Updating") or (
        doc["EndpointStatus"] == "Deleting" and not p.get("_resume")
    ):
        raise ValidationError(
            f"endpoint {name!r} is {doc['EndpointStatus']}; delete it once it is InService or Failed"
        )
    ctx.state.update(ENDPOINT, name, EndpointStatus="Deleting", LastModifiedTime=now())
    _PORTS.pop(name, None)

    def stop() -> None:
        try:
            stop_server(name)
        except EndpointNotFound:
            pass
        ctx.state.delete(ENDPOINT, name)

    run_background(f"delete-{name}", stop)
    return {}


@operation("ListEndpoints")
def list_endpoints(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rows, token = page(ctx.state.all(ENDPOINT), p, name_key="EndpointName", status_key="EndpointStatus")
    keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
    return {"Endpoints": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


def _port(ctx: Context, name: str) -> int:
    port = _PORTS.get(name)
    if port is None:
        doc = ctx.state.find(ENDPOINT, name)
        if doc is None:
            raise ApiError(
                f"Endpoint {name} of account 000000000000 not found.", code="ValidationError", status=400
            )
        if doc["EndpointStatus"] not in ("InService", "Updating"):
            raise ApiError(
                f"endpoint {name!r} is {doc['EndpointStatus']}, not InService",
                code="ValidationError",
                status=400,
            )
        from smdbg.platform.serving import Predictor

        port = int(urlsplit(Predictor(name).url).port or 0)
        _PORTS[name] = port
    return port


def invoke_endpoint(
    ctx: Context, name: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, bytes, str]:
    """Forward one InvokeEndpoint request to the endpoint's server; returns (status, content
    type, body, variant). A model error is ``ModelError`` (424) with the server's answer."""
    port = _port(ctx, name)
    forward = {"Content-Type": headers.get("content-type", "application/octet-stream")}
    if "accept" in headers:
        forward["Accept"] = headers["accept"]
    for h in ("x-amzn-sagemaker-inference-id", "x-amzn-sagemaker-custom-attributes"):
        if h in headers:
            forward[h] = headers[h]
    conns: dict[int, http.client.HTTPConnection] = _LOCAL.__dict__.setdefault("conns", {})
    for attempt in (0, 1):
        conn = conns.get(port)
        if conn is None or attempt:
            conn = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", "/invocations", body=body, headers=forward)
            resp = conn.getresponse()
            status, ctype, out = resp.status, resp.getheader("content-type", ""), resp.read()
            break
        except (ConnectionError, http.client.HTTPException) as e:
            conn.close()
            if attempt:
                _PORTS.pop(name, None)
                raise ApiError(
                    f"endpoint {name!r} did not answer ({e})", code="ModelNotReadyException", status=429
                ) from None
    if status != 200:
        raise ApiError(f"Received client error ({status}) from primary with message \"{out.decode(errors='replace')}\"",
                       code="ModelError", status=424)  # fmt: skip
    return status, ctype, out, "AllTraffic"
