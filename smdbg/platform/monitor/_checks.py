"""Evaluating current data against baseline constraints: ``constraint_violations.json`` entries.

Check types: data_type_check, completeness_check, baseline_drift_check, missing_column_check,
extra_column_check, categorical_values_check. Drift is the L-infinity distance between the
baseline's and the current data's CDFs (from their KLL sketches; for strings, between category
frequencies). ``Simple`` compares that distance with the threshold; ``Robust`` (as Deequ defines
it) first subtracts the two-sample Kolmogorov-Smirnov allowance ``1.8 * sqrt((n + m) / (n * m))``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from smdbg._optional import require
from smdbg.platform.monitor._constraints import _merge_defaults, enabled
from smdbg.platform.monitor._stats import (
    FRACTIONAL,
    INTEGRAL,
    STRING,
    UNKNOWN,
    sketch_points,
    value_type_counts,
)

__all__ = ["linf_distance", "categorical_distance", "robust", "evaluate"]


def robust(distance: float, n: float, m: float) -> float:
    if n <= 0 or m <= 0:
        return 0.0
    return max(0.0, distance - 1.8 * math.sqrt((n + m) / (n * m)))


def linf_distance(sketch_a: dict[str, Any], sketch_b: dict[str, Any]) -> tuple[float, float, float]:
    """L-infinity distance between two sketches' CDFs, and their total weights (n, m)."""
    xa, wa = sketch_points(sketch_a)
    xb, wb = sketch_points(sketch_b)
    n, m = float(wa.sum()), float(wb.sum())
    if not n or not m:
        return 0.0, n, m
    grid = np.union1d(xa, xb)
    ca = np.concatenate([[0.0], np.cumsum(wa)])[np.searchsorted(xa, grid, side="right")] / n
    cb = np.concatenate([[0.0], np.cumsum(wb)])[np.searchsorted(xb, grid, side="right")] / m
    return float(np.max(np.abs(ca - cb))), n, m


def categorical_distance(
    buckets_a: list[dict[str, Any]], buckets_b: list[dict[str, Any]]
) -> tuple[float, float, float]:
    ca = {str(b["value"]): float(b["count"]) for b in buckets_a}
    cb = {str(b["value"]): float(b["count"]) for b in buckets_b}
    n, m = sum(ca.values()), sum(cb.values())
    if not n or not m:
        return 0.0, n, m
    return max(abs(ca.get(k, 0.0) / n - cb.get(k, 0.0) / m) for k in set(ca) | set(cb)), n, m


def _chi_squared_pvalue(buckets_a: list[dict[str, Any]], buckets_b: list[dict[str, Any]]) -> float:
    require("scipy", extra="platform", feature="the model monitor's chi-squared check")
    from scipy.stats import chi2_contingency

    keys = sorted({str(b["value"]) for b in buckets_a} | {str(b["value"]) for b in buckets_b})
    ca = {str(b["value"]): b["count"] for b in buckets_a}
    cb = {str(b["value"]): b["count"] for b in buckets_b}
    table = np.array([[ca.get(k, 0) for k in keys], [cb.get(k, 0) for k in keys]], dtype=float)
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table)[1])


def _pct(x: float) -> str:
    return f"{100 * x:.4g}%"


def _violation(name: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def _drift(
    name: str, kind: str, base: dict[str, Any], cur: dict[str, Any], dist: dict[str, Any]
) -> dict[str, str] | None:
    if kind in (INTEGRAL, FRACTIONAL):
        sk_a = base.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).get("sketch")
        sk_b = cur.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).get("sketch")
        if not sk_a or not sk_b:
            return None
        d, n, m = linf_distance(sk_a, sk_b)
        threshold = float(dist["comparison_threshold"])
        method = str(dist.get("comparison_method", "Robust"))
    else:
        ba = base.get("string_statistics", {}).get("distribution", {}).get("categorical", {}).get("buckets")
        bb = cur.get("string_statistics", {}).get("distribution", {}).get("categorical", {}).get("buckets")
        if not ba or not bb:
            return None
        threshold = float(dist.get("categorical_comparison_threshold", 0.1))
        if str(dist.get("categorical_drift_method", "LInfinity")).lower() == "chisquared":
            p = _chi_squared_pvalue(ba, bb)
            if p < threshold:
                return _violation(
                    name,
                    "baseline_drift_check",
                    f"Baseline drift p-value (ChiSquared): {p:.4g} is below threshold: {threshold}",
                )
            return None
        d, n, m = categorical_distance(ba, bb)
        method = str(dist.get("comparison_method", "Robust"))
    if method.lower() == "robust":
        d = robust(d, n, m)
    if d > threshold:
        return _violation(
            name,
            "baseline_drift_check",
            f"Baseline drift distance ({method}): {d:.4g} exceeds threshold: {threshold}",
        )
    return None


def evaluate(
    table: pa.Table,
    current: dict[str, Any],
    constraints: dict[str, Any],
    baseline: dict[str, Any] | None,
) -> list[dict[str, str]]:
    """Violations of ``constraints`` (normalized) by ``table``, whose statistics are ``current``."""
    config = constraints["monitoring_config"]
    if not enabled(config.get("evaluate_constraints", "Enabled")):
        return []
    expected = {f["name"]: f for f in constraints["features"]}
    cur_stats = {f["name"]: f for f in current["features"]}
    base_stats = {f["name"]: f for f in (baseline or {}).get("features", [])}
    out: list[dict[str, str]] = []
    for name in expected:
        if name not in cur_stats:
            out.append(
                _violation(
                    name,
                    "missing_column_check",
                    f"There are missing columns in current dataset. Number of columns in current dataset: "
                    f"{len(cur_stats)}, Number of columns in baseline constraints: {len(expected)}",
                )
            )
    for name in cur_stats:
        if name not in expected:
            out.append(
                _violation(
                    name,
                    "extra_column_check",
                    f"There are extra columns in current dataset. Number of columns in current dataset: "
                    f"{len(cur_stats)}, Number of columns in baseline constraints: {len(expected)}",
                )
            )
    for name, spec in expected.items():
        if name not in cur_stats:
            continue
        cfg = _merge_defaults(spec.get("monitoring_config_overrides") or {}, config)
        kind = spec["inferred_type"]
        col = table.column(name)
        counts = value_type_counts(col)
        present = sum(counts.values())
        if kind in (INTEGRAL, FRACTIONAL) and present:
            ok = counts[INTEGRAL] + (counts[FRACTIONAL] if kind == FRACTIONAL else 0)
            need = 1.0 - float(cfg["datatype_check_threshold"])
            if ok / present < need:
                out.append(
                    _violation(
                        name,
                        "data_type_check",
                        f"Data type match requirement is not met. Expected data type: {kind}, Expected match: "
                        f"{_pct(need)}. Observed: Only {_pct(ok / present)} of data is {kind}.",
                    )
                )
        if "completeness" in spec and table.num_rows:
            observed = present / table.num_rows
            if observed < float(spec["completeness"]) - 1e-12:
                out.append(
                    _violation(
                        name,
                        "completeness_check",
                        f"Data completeness requirement is not met. Expected completeness: "
                        f"{_pct(float(spec['completeness']))}. Observed: Only {_pct(observed)} of data is complete.",
                    )
                )
        domains = (spec.get("string_constraints") or {}).get("domains")
        if kind == STRING and domains and present:
            buckets = (
                cur_stats[name].get("string_statistics", {}).get("distribution", {}).get("categorical", {})
            )
            allowed = set(map(str, domains))
            inside = sum(b["count"] for b in buckets.get("buckets", []) if str(b["value"]) in allowed)
            need = 1.0 - float(cfg["domain_content_threshold"])
            if inside / present < need:
                out.append(
                    _violation(
                        name,
                        "categorical_values_check",
                        f"Categorical value match requirement is not met. Expected match: {_pct(need)}. "
                        f"Observed: Only {_pct(inside / present)} of data is within the baseline domain.",
                    )
                )
        dist = cfg["distribution_constraints"]
        if enabled(dist.get("perform_comparison", "Enabled")) and name in base_stats and kind != UNKNOWN:
            current_kind = cur_stats[name]["inferred_type"]
            if (kind == STRING) == (current_kind == STRING) and current_kind != UNKNOWN:
                v = _drift(name, kind, base_stats[name], cur_stats[name], dist)
                if v:
                    out.append(v)
    return out
