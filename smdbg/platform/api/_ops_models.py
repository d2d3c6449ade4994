"""Models and endpoint configs: records only (nothing runs until an endpoint uses them).

A model's image is not pulled from a registry: ``PrimaryContainer.ModelDataUrl`` (or the first
of ``Containers`` that has one) is the artifact smdbg's serving layer loads (a folder, a
``model.tar.gz``, local or ``s3://``), the framework inferred from its files as
:class:`smdbg.platform.serving.Model` does. ``Environment["SAGEMAKER_PROGRAM"]`` names an
``inference.py``-style entry point inside the artifact.
"""

from __future__ import annotations

from typing import Any

from smdbg.platform.api._protocol import ValidationError
from smdbg.platform.api._registry import Context, check_name, now, operation, page
from smdbg.platform.api._state import arn

__all__ = ["model_container"]

MODEL, CONFIG = "model", "endpoint-config"


def model_container(doc: dict[str, Any]) -> dict[str, Any]:
    """The container of a model record that holds the artifact."""
    containers = (
        [doc["PrimaryContainer"]] if doc.get("PrimaryContainer") else list(doc.get("Containers") or [])
    )
    with_data = [c for c in containers if c.get("ModelDataUrl")]
    if not with_data:
        raise ValidationError(
            f"model {doc['ModelName']!r} has no container with a ModelDataUrl; smdbg serves model artifacts, "
            "not images: give PrimaryContainer.ModelDataUrl (a folder, model.tar.gz or s3:// URI)"
        )
    return dict(with_data[0])


@operation("CreateModel")
def create_model(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = check_name(p["ModelName"], "ModelName")
    doc = {k: v for k, v in p.items() if k != "Tags"}
    doc.update(ModelArn=arn("model", name), CreationTime=now())
    model_container(doc)  # refuse a model with nothing to serve now, not at endpoint creation
    ctx.state.create(MODEL, name, doc, "model")
    return {"ModelArn": doc["ModelArn"]}


@operation("DescribeModel")
def describe_model(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.state.get(MODEL, p["ModelName"], "model")


@operation("DeleteModel")
def delete_model(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    ctx.state.get(MODEL, p["ModelName"], "model")
    ctx.state.delete(MODEL, p["ModelName"])
    return {}


@operation("ListModels")
def list_models(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rows, token = page(ctx.state.all(MODEL), p, name_key="ModelName")
    keys = ("ModelName", "ModelArn", "CreationTime")
    return {"Models": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


@operation("CreateEndpointConfig")
def create_endpoint_config(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = check_name(p["EndpointConfigName"], "EndpointConfigName")
    variants = p["ProductionVariants"]
    for i, v in enumerate(variants):
        ctx.state.get(MODEL, v.get("ModelName", ""), f"model of ProductionVariants[{i}]")
    if len(variants) != 1:
        raise ValidationError(
            f"ProductionVariants has {len(variants)} variants: smdbg endpoints serve one model; give one variant"
        )
    capture = p.get("DataCaptureConfig")
    if capture:
        capture_config(capture)  # checked now
    doc = {k: v for k, v in p.items() if k != "Tags"}
    doc.update(EndpointConfigArn=arn("endpoint-config", name), CreationTime=now())
    ctx.state.create(CONFIG, name, doc, "endpoint config")
    return {"EndpointConfigArn": doc["EndpointConfigArn"]}


@operation("DescribeEndpointConfig")
def describe_endpoint_config(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.state.get(CONFIG, p["EndpointConfigName"], "endpoint config")


@operation("DeleteEndpointConfig")
def delete_endpoint_config(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["EndpointConfigName"]
    ctx.state.get(CONFIG, name, "endpoint config")
    # As on AWS, an endpoint keeps running on the config it was created or updated with (its own
    # copy), so a config in use may be deleted; the SDK's Predictor.delete_endpoint() does that.
    ctx.state.delete(CONFIG, name)
    return {}


@operation("ListEndpointConfigs")
def list_endpoint_configs(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rows, token = page(ctx.state.all(CONFIG), p, name_key="EndpointConfigName")
    keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
    return {"EndpointConfigs": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


def capture_config(capture: dict[str, Any]) -> Any:
    """SageMaker's ``DataCaptureConfig`` as smdbg's (:meth:`DataCaptureConfig.from_api_dict`)."""
    from smdbg.platform.serving import DataCaptureConfig

    try:
        return DataCaptureConfig.from_api_dict(capture)
    except (ValueError, TypeError) as e:
        raise ValidationError(f"DataCaptureConfig: {e}") from None
