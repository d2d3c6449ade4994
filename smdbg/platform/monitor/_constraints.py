"""``constraints.json``: suggesting it from baseline statistics, and reading it back.

Reading accepts older spellings: camelCase keys (``inferredType``, ``numConstraints``,
``isNonNegative``, ``monitoringConfig``, ``datatypeCheckThreshold``...), ``data_type_check_threshold``
and the misspelt ``comparsion_threshold``; ``Enabled``/``Disabled`` or booleans; missing
``monitoring_config`` keys take their defaults.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from smdbg.platform.monitor._errors import ConstraintsError
from smdbg.platform.monitor._stats import FRACTIONAL, INTEGRAL, STRING, UNKNOWN

__all__ = [
    "DEFAULT_MONITORING_CONFIG",
    "MAX_DOMAIN_SIZE",
    "suggest_constraints",
    "normalize_constraints",
    "enabled",
]

MAX_DOMAIN_SIZE = 100

DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}

_ALIASES = {
    "comparsion_threshold": "comparison_threshold",
    "data_type_check_threshold": "datatype_check_threshold",
    "monitoring_config_overrides": "monitoring_config_overrides",
}
_TYPES = {t.lower(): t for t in (INTEGRAL, FRACTIONAL, STRING, UNKNOWN)}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def enabled(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("enabled", "true", "yes", "1")
    return bool(value)


def _snake(key: str) -> str:
    key = _CAMEL.sub("_", key).lower()
    return _ALIASES.get(key, key)


def _normalize_keys(value: Any, parent: str = "") -> Any:
    if isinstance(value, dict):
        return {_snake(k): _normalize_keys(v, _snake(k)) for k, v in value.items()}
    if isinstance(value, list) and parent != "domains":
        return [_normalize_keys(v) for v in value]
    return value


def _merge_defaults(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_defaults(value, out[key])
        else:
            out[key] = value
    return out


def normalize_constraints(doc: dict[str, Any]) -> dict[str, Any]:
    """A constraints document in today's spelling, with monitoring_config defaults filled in."""
    if not isinstance(doc, dict) or not isinstance(doc.get("features", []), list):
        raise ConstraintsError(
            f"constraints document of type {type(doc).__name__} is not valid; expected an object with a "
            '"features" list (as written by suggest_baseline)'
        )
    out = _normalize_keys(doc)
    for i, feature in enumerate(out.get("features", [])):
        if "name" not in feature:
            raise ConstraintsError(f'constraints feature #{i} has no name; every feature needs a "name"')
        kind = str(feature.get("inferred_type", UNKNOWN))
        if kind.lower() not in _TYPES:
            raise ConstraintsError(
                f"feature {feature['name']!r} has inferred_type {kind!r}; expected one of {list(_TYPES.values())}"
            )
        feature["inferred_type"] = _TYPES[kind.lower()]
    out["monitoring_config"] = _merge_defaults(out.get("monitoring_config") or {}, DEFAULT_MONITORING_CONFIG)
    out.setdefault("version", 0)
    return out


def suggest_constraints(statistics: dict[str, Any]) -> dict[str, Any]:
    """Constraints a baseline satisfies: types, completeness, non-negativity, small string domains."""
    item_count = max(int(statistics["dataset"]["item_count"]), 1)
    features = []
    for f in statistics["features"]:
        kind = f["inferred_type"]
        stats = f.get("numerical_statistics") or f.get("string_statistics") or {}
        present = int(stats.get("common", {}).get("num_present", 0))
        feature: dict[str, Any] = {
            "name": f["name"],
            "inferred_type": kind,
            "completeness": present / item_count,
        }
        if kind in (INTEGRAL, FRACTIONAL):
            feature["num_constraints"] = {"is_non_negative": bool(stats.get("min", 0) >= 0)}
        elif kind == STRING:
            buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
            distinct = int(stats.get("distinct_count", len(buckets)))
            if (
                0 < distinct <= MAX_DOMAIN_SIZE
                and distinct <= max(2, present // 5)
                and distinct == len(buckets)
            ):
                feature["string_constraints"] = {"domains": sorted(str(b["value"]) for b in buckets)}
        features.append(feature)
    return {"version": 0, "features": features, "monitoring_config": copy.deepcopy(DEFAULT_MONITORING_CONFIG)}
