"""Configuration objects with smdebug's names and semantics.

* :class:`SaveConfig` / :class:`SaveConfigMode` decide which steps are saved.
* :class:`ReductionConfig` decides what is saved of a tensor: reductions, norms, the raw tensor.
* :class:`CollectionConfig` names a collection and its parameters (as in smdebug's JSON).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smdbg._save_config import (
    DEFAULT_SAVE_INTERVAL,
    SAVE_KEYS,
    SaveConfig,
    SaveConfigMode,
    load_json_object,
    parse_bool,
    parse_int_list,
)
from smdbg.modes import ModeKeys
from smdbg.reductions import (
    ALLOWED_NORMS,
    ALLOWED_REDUCTIONS,
    HistogramRange,
    check_histogram_bins,
    check_histogram_range,
    reduction_key,
)

__all__ = [
    "SaveConfigMode",
    "SaveConfig",
    "ReductionConfig",
    "CollectionConfig",
    "parse_bool",
    "parse_int_list",
    "CollectionParameters",
    "parse_collection_parameters",
    "validate_collection_parameters",
    "save_config_from_params",
    "compile_regex",
    "DEFAULT_SAVE_INTERVAL",
    "SAVE_KEYS",
    "COLLECTION_PARAMETER_KEYS",
    "unknown_collection_parameters",
]


@dataclass(frozen=True)
class ReductionConfig:
    """What is saved of each tensor.

    ``reductions``/``abs_reductions`` take names from min, max, mean, std, variance, sum, prod;
    ``norms``/``abs_norms`` take l1, l2. With none of them, the raw tensor is saved;
    ``save_raw_tensor=True`` saves it in addition to the reductions. ``save_shape`` records the
    shape even when only reductions are saved (the shape is always kept with raw tensors).
    ``histogram=bins`` also saves a histogram of the tensor (computed where the tensor is, see
    docs/pytorch.md; PyTorch hooks only), over ``histogram_range``: ``"minmax"`` (the tensor's
    finite min and max at that step) or a fixed ``(lo, hi)``.
    """

    reductions: tuple[str, ...] = ()
    abs_reductions: tuple[str, ...] = ()
    norms: tuple[str, ...] = ()
    abs_norms: tuple[str, ...] = ()
    save_raw_tensor: bool = False
    save_shape: bool = False
    histogram: int | None = None
    histogram_range: HistogramRange = "minmax"
    keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attr, allowed in (
            ("reductions", ALLOWED_REDUCTIONS),
            ("abs_reductions", ALLOWED_REDUCTIONS),
            ("norms", ALLOWED_NORMS),
            ("abs_norms", ALLOWED_NORMS),
        ):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            value = tuple(value)
            for name in value:
                if name not in allowed:
                    raise ValueError(f"{attr} contains {name!r}: expected names from {', '.join(allowed)}")
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "save_raw_tensor", parse_bool("save_raw_tensor", self.save_raw_tensor))
        object.__setattr__(self, "save_shape", parse_bool("save_shape", self.save_shape))
        object.__setattr__(self, "histogram", check_histogram_bins(self.histogram))
        object.__setattr__(self, "histogram_range", check_histogram_range(self.histogram_range))
        keys = [reduction_key(n) for n in self.reductions + self.norms]
        keys += [reduction_key(n, abs=True) for n in self.abs_reductions + self.abs_norms]
        object.__setattr__(self, "keys", tuple(dict.fromkeys(keys)))

    @property
    def saves_raw(self) -> bool:
        """True when the raw tensor is saved (asked for, or no reduction nor histogram was asked for)."""
        return self.save_raw_tensor or (not self.keys and self.histogram is None)

    @property
    def histogram_spec(self) -> tuple[int, HistogramRange] | None:
        """(bins, range) when a histogram is saved, else None."""
        return None if self.histogram is None else (self.histogram, self.histogram_range)

    def _histogram_dict(self) -> dict[str, Any]:
        if self.histogram is None:
            return {}
        rng = self.histogram_range
        return {"histogram": self.histogram, "histogram_range": rng if isinstance(rng, str) else list(rng)}

    @classmethod
    def from_tokens(
        cls, tokens: str | Iterable[str], save_raw_tensor: bool = False, save_shape: bool = False
    ) -> ReductionConfig:
        """smdebug's JSON form: ``"mean,abs_max,l2_norm,abs_l1_norm"`` (norms also as ``l2``)."""
        items = tokens.split(",") if isinstance(tokens, str) else list(tokens)
        red: list[str] = []
        abs_red: list[str] = []
        norms: list[str] = []
        abs_norms: list[str] = []
        for raw in items:
            tok = raw.strip()
            if not tok:
                continue
            base, is_abs = (tok[4:], True) if tok.startswith("abs_") else (tok, False)
            if base.endswith("_norm") and base[:-5] in ALLOWED_NORMS:
                base = base[:-5]
            if base in ALLOWED_NORMS:
                (abs_norms if is_abs else norms).append(base)
            elif base in ALLOWED_REDUCTIONS:
                (abs_red if is_abs else red).append(base)
            else:
                allowed = ", ".join(ALLOWED_REDUCTIONS + ALLOWED_NORMS)
                raise ValueError(
                    f"reductions contains {tok!r}: expected {allowed}, each optionally prefixed abs_ "
                    "(norms also as l1_norm, l2_norm)"
                )
        return cls(tuple(red), tuple(abs_red), tuple(norms), tuple(abs_norms), save_raw_tensor, save_shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reductions": list(self.reductions),
            "abs_reductions": list(self.abs_reductions),
            "norms": list(self.norms),
            "abs_norms": list(self.abs_norms),
            "save_raw_tensor": self.save_raw_tensor,
            "save_shape": self.save_shape,
            **self._histogram_dict(),
        }

    def to_json_dict(self) -> dict[str, Any]:
        """smdebug's JSON shape: ``{"save_raw_tensor": false, "reductions": "mean,l2_norm,abs_max"}``
        (plus ``save_shape`` when set)."""
        tokens = list(self.reductions) + [f"{n}_norm" for n in self.norms]
        tokens += [f"abs_{n}" for n in self.abs_reductions] + [f"abs_{n}_norm" for n in self.abs_norms]
        out: dict[str, Any] = {"save_raw_tensor": self.save_raw_tensor, "reductions": ",".join(tokens)}
        if self.save_shape:
            out["save_shape"] = True
        out.update(self._histogram_dict())
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReductionConfig:
        """Either shape: :meth:`to_dict`'s lists, or smdebug's ``{"reductions": "mean,l1_norm",
        "save_raw_tensor": ...}`` (:meth:`to_json_dict`)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"ReductionConfig.from_dict({data!r}): expected a dict")
        if isinstance(data.get("reductions"), str) and not set(data) & {"abs_reductions", "norms", "abs_norms"}:
            tokens = cls.from_tokens(
                data["reductions"], data.get("save_raw_tensor", False), data.get("save_shape", False)
            )
            hist = {k: data[k] for k in ("histogram", "histogram_range") if k in data}
            return dataclasses.replace(tokens, **hist) if hist else tokens
        kwargs = {k: v for k, v in data.items() if k != "keys"}
        if isinstance(kwargs.get("histogram_range"), list):
            kwargs["histogram_range"] = tuple(kwargs["histogram_range"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> ReductionConfig:
        return cls.from_dict(load_json_object(text, "ReductionConfig"))


# -- collection parameters (smdebug's JSON keys) ---------------------------------------------
#: Every key of smdebug's collection parameters (save keys may also take a mode prefix).
COLLECTION_PARAMETER_KEYS = SAVE_KEYS + ("include_regex", "reductions", "save_raw_tensor", "save_shape", "save_histogram")
_MODE_PREFIXES = tuple(m.name.lower() + "." for m in ModeKeys)


def compile_regex(pattern: str, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise TypeError(f"{where}: regex {pattern!r} is a {type(pattern).__name__}, expected a string")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{where}: regex {pattern!r} does not compile ({e})") from e


def save_config_from_params(params: Mapping[str, Any]) -> SaveConfig | None:
    """Build a SaveConfig from smdebug-style (possibly mode-prefixed) keys; None if none given."""
    base = {k: params[k] for k in SAVE_KEYS if k in params}
    modes: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        for prefix in _MODE_PREFIXES:
            if key.startswith(prefix) and key[len(prefix) :] in SAVE_KEYS:
                modes.setdefault(prefix[:-1], {})[key[len(prefix) :]] = value
    if not base and not modes:
        return None
    return SaveConfig(mode_save_configs={m: SaveConfigMode(**v) for m, v in modes.items()}, **base)


@dataclass(frozen=True)
class CollectionParameters:
    """A collection's smdebug-style parameters, parsed and checked; None where not given."""

    include_regex: tuple[str, ...] | None = None
    save_config: SaveConfig | None = None
    reduction_config: ReductionConfig | None = None
    save_histogram: bool | None = None


def parse_collection_parameters(name: str, params: Mapping[str, Any]) -> CollectionParameters:
    """Parse the values of collection ``name``'s parameters (unknown keys are not looked at;
    :func:`validate_collection_parameters` rejects them). Raises ValueError/TypeError naming a
    bad value."""
    regexes: tuple[str, ...] | None = None
    if "include_regex" in params:
        value = params["include_regex"]
        regexes = tuple(value.split(",") if isinstance(value, str) else list(value))
        for r in regexes:
            compile_regex(r, f"collection {name!r}")
    save = save_config_from_params(params)
    reduction = None
    if any(k in params for k in ("reductions", "save_raw_tensor", "save_shape")):
        reduction = ReductionConfig.from_tokens(
            params.get("reductions", ""),
            save_raw_tensor=parse_bool("save_raw_tensor", params.get("save_raw_tensor", False)),
            save_shape=parse_bool("save_shape", params.get("save_shape", False)),
        )
    histogram = parse_bool("save_histogram", params["save_histogram"]) if "save_histogram" in params else None
    return CollectionParameters(regexes, save, reduction, histogram)


def unknown_collection_parameters(params: Mapping[str, Any]) -> list[str]:
    """The keys of ``params`` that are no collection parameter (a mode prefix takes save keys only)."""
    out = []
    for key in params:
        prefix = next((p for p in _MODE_PREFIXES if key.startswith(p)), "")
        base = key[len(prefix) :]
        if base not in (SAVE_KEYS if prefix else COLLECTION_PARAMETER_KEYS):
            out.append(key)
    return out


def validate_collection_parameters(name: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError naming any unknown key or bad value in a collection's parameters."""
    for key in unknown_collection_parameters(params):
        if "." in key and key.split(".", 1)[0] + "." in _MODE_PREFIXES:
            raise ValueError(
                f"collection {name!r}: unknown parameter {key!r}; a mode prefix takes one of {', '.join(SAVE_KEYS)}"
            )
        raise ValueError(
            f"collection {name!r}: unknown parameter {key!r}; expected one of {', '.join(COLLECTION_PARAMETER_KEYS)} "
            "(save keys may be prefixed train./eval./predict./global.)"
        )
    parse_collection_parameters(name, params)


@dataclass(frozen=True)
class CollectionConfig:
    """A collection name and its parameters, as in smdebug's ``CollectionConfig``.

    Parameters use smdebug's JSON keys (``include_regex``, ``save_interval``, ``reductions``,
    ``train.save_interval`` ...); they are validated when applied to a collection.
    """

    name: str
    parameters: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"CollectionConfig name={self.name!r}: expected a non-empty string")
        validate_collection_parameters(self.name, dict(self.parameters or {}))
