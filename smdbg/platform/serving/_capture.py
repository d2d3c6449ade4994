"""Data capture: the configuration and the SageMaker capture record format.

A record is one JSON line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...  "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2024-05-01T12:00:00.123Z"},
     "eventVersion": "0"}

Files live under ``{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/`` (UTC hour of the
inference), named ``mm-ss-mmm-i<k>-<uuid>.jsonl`` by the instance ``k`` that wrote them. Writing is done by :class:`smdbg.platform.serving._capture_writer.CaptureWriter`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["DataCaptureConfig", "make_record", "hour_prefix", "capture_file_name"]

_OPTIONS = ("REQUEST", "RESPONSE")
# the API's CaptureMode values and the capture options each stands for
_MODES = {"INPUT": ["REQUEST"], "OUTPUT": ["RESPONSE"], "INPUTANDOUTPUT": ["REQUEST", "RESPONSE"]}
_API_KEYS = (
    "EnableCapture", "InitialSamplingPercentage", "DestinationS3Uri", "KmsKeyId", "CaptureOptions",
    "CaptureContentTypeHeader",
)  # fmt: skip


@dataclasses.dataclass
class DataCaptureConfig:
    """What to capture, how much, and where (same names as the SageMaker SDK).

    ``destination_s3_uri`` is a local directory or an ``s3://`` URI. ``sampling_percentage``
    (0-100) is the share of requests captured. ``capture_options`` holds ``"REQUEST"`` and/or
    ``"RESPONSE"``. Payloads whose content type is in ``csv_content_types`` are stored as text
    with encoding ``CSV``, those in ``json_content_types`` as ``JSON``, anything else ``BASE64``.
    ``flush_interval_s``, ``max_buffered_records`` and ``max_buffered_bytes`` (payload bytes held
    in memory; beyond them records spill to local disk) tune the background writer, which
    publishes files of at most ``max_file_bytes`` each.
    """

    enable_capture: bool = True
    sampling_percentage: float = 20
    destination_s3_uri: str | None = None
    capture_options: list[str] = dataclasses.field(default_factory=lambda: ["REQUEST", "RESPONSE"])
    csv_content_types: list[str] = dataclasses.field(default_factory=lambda: ["text/csv"])
    json_content_types: list[str] = dataclasses.field(default_factory=lambda: ["application/json"])
    kms_key_id: str | None = None
    flush_interval_s: float = 1.0
    max_buffered_records: int = 100_000
    max_buffered_bytes: int = 64 * 1024 * 1024
    max_file_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        pct = self.sampling_percentage
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct <= 100:
            raise ValueError(f"sampling_percentage={pct!r} is not valid: expected a number from 0 to 100")
        if self.enable_capture and not self.destination_s3_uri:
            raise ValueError(
                "destination_s3_uri is empty: expected a local directory or an s3:// URI "
                "where capture files go (e.g. destination_s3_uri='/data/capture')"
            )
        opts = [str(o).upper() for o in self.capture_options]
        bad = [o for o in opts if o not in _OPTIONS]
        if bad or not opts:
            raise ValueError(
                f"capture_options={self.capture_options!r} is not valid: expected a non-empty list "
                f"of {list(_OPTIONS)}"
            )
        self.capture_options = opts
        if self.flush_interval_s <= 0 or self.max_buffered_records < 1:
            raise ValueError(
                f"flush_interval_s={self.flush_interval_s!r} and max_buffered_records="
                f"{self.max_buffered_records!r}: expected a positive interval and at least 1 record"
            )
        for name in ("max_buffered_bytes", "max_file_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise ValueError(f"{name}={value!r} is not valid: expected an int of at least 1024 bytes")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataCaptureConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_api_dict(cls, data: Mapping[str, Any]) -> DataCaptureConfig:
        """The config from SageMaker's ``DataCaptureConfig`` request shape (what
        ``create_endpoint_config`` takes and the SageMaker SDK's ``_to_request_dict()`` returns):
        ``EnableCapture``, ``InitialSamplingPercentage``, ``DestinationS3Uri``, ``KmsKeyId``,
        ``CaptureOptions`` (``[{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]``) and
        ``CaptureContentTypeHeader`` (``{"CsvContentTypes": [...], "JsonContentTypes": [...]}``)."""
        unknown = sorted(set(data) - set(_API_KEYS))
        if unknown:
            raise ValueError(
                f"data_capture_config has unknown key(s) {unknown}: expected the API's keys {list(_API_KEYS)}"
            )
        kwargs: dict[str, Any] = {
            "enable_capture": data.get("EnableCapture", True),
            "sampling_percentage": data.get("InitialSamplingPercentage", 20),
            "destination_s3_uri": data.get("DestinationS3Uri"),
            "kms_key_id": data.get("KmsKeyId"),
        }
        if "CaptureOptions" in data:
            options: list[str] = []
            for item in data["CaptureOptions"] or []:
                mode = item.get("CaptureMode") if isinstance(item, Mapping) else None
                if not isinstance(mode, str) or mode.upper() not in _MODES:
                    raise ValueError(
                        f"data_capture_config CaptureOptions item {item!r} is not valid: expected "
                        "{'CaptureMode': 'Input'} or {'CaptureMode': 'Output'}"
                    )
                options += [o for o in _MODES[mode.upper()] if o not in options]
            kwargs["capture_options"] = options
        header = data.get("CaptureContentTypeHeader") or {}
        if not isinstance(header, Mapping) or set(header) - {"CsvContentTypes", "JsonContentTypes"}:
            raise ValueError(
                f"data_capture_config CaptureContentTypeHeader={header!r} is not valid: expected "
                "{'CsvContentTypes': [...], 'JsonContentTypes': [...]}"
            )
        if "CsvContentTypes" in header:
            kwargs["csv_content_types"] = list(header["CsvContentTypes"])
        if "JsonContentTypes" in header:
            kwargs["json_content_types"] = list(header["JsonContentTypes"])
        return cls(**kwargs)

    @classmethod
    def coerce(cls, value: Any) -> DataCaptureConfig:
        """A :class:`DataCaptureConfig` from itself, the API's dict (:meth:`from_api_dict`) or a
        SageMaker SDK ``DataCaptureConfig`` object (read through its ``_to_request_dict()``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls.from_api_dict(value)
        to_request = getattr(value, "_to_request_dict", None)
        if callable(to_request):
            return cls.from_api_dict(to_request())
        raise TypeError(
            f"data_capture_config={value!r}: expected a DataCaptureConfig or a dict with the API's "
            "keys (EnableCapture, InitialSamplingPercentage, DestinationS3Uri, CaptureOptions)"
        )

    def sampled(self) -> bool:
        """Decide for one request whether it is captured."""
        if not self.enable_capture:
            return False
        return self.sampling_percentage >= 100 or random.random() * 100 < self.sampling_percentage

    def encoding_for(self, content_type: str) -> str:
        base = content_type.split(";", 1)[0].strip().lower()
        if base in (c.lower() for c in self.csv_content_types):
            return "CSV"
        if base in (c.lower() for c in self.json_content_types):
            return "JSON"
        return "BASE64"


def _payload(data: bytes, content_type: str, mode: str, config: DataCaptureConfig) -> dict[str, str]:
    encoding = config.encoding_for(content_type)
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def make_record(
    config: DataCaptureConfig,
    request: bytes,
    request_type: str,
    response: bytes,
    response_type: str,
    when: dt.datetime | None = None,
    inference_id: str | None = None,
) -> dict[str, Any]:
    """One capture record (a dict ready for ``json.dumps``)."""
    when = when or dt.datetime.now(dt.timezone.utc)
    capture: dict[str, Any] = {}
    if "REQUEST" in config.capture_options:
        capture["endpointInput"] = _payload(request, request_type, "INPUT", config)
    if "RESPONSE" in config.capture_options:
        capture["endpointOutput"] = _payload(response, response_type, "OUTPUT", config)
    meta: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
    }
    if inference_id:
        meta["inferenceId"] = inference_id
    return {"captureData": capture, "eventMetadata": meta, "eventVersion": "0"}


def hour_prefix(inference_time: str) -> str:
    """``yyyy/mm/dd/hh`` of an ``inferenceTime`` string."""
    return f"{inference_time[0:4]}/{inference_time[5:7]}/{inference_time[8:10]}/{inference_time[11:13]}"


def capture_file_name(now: dt.datetime, instance: int = 0) -> str:
    """``mm-ss-mmm-i<instance>-<uuid>.jsonl``: SageMaker's naming inside an hour directory, with
    the endpoint instance that wrote the file (its ``X-Smdbg-Instance``)."""
    return f"{now:%M-%S}-{now.microsecond // 1000:03d}-i{int(instance)}-{uuid.uuid4()}.jsonl"
