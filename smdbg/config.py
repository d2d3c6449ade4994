"""Configuration objects with smdebug's names and semantics.

* :class:`SaveConfig` / :class:`SaveConfigMode` decide which steps are saved.
* :class:`ReductionConfig` decides what is saved of a tensor: reductions, norms, the raw tensor.
* :class:`CollectionConfig` names a collection and its parameters (as in smdebug's JSON).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smdbg.modes import ModeKeys, ModeLike, parse_mode
from smdbg.reductions import ALLOWED_NORMS, ALLOWED_REDUCTIONS, reduction_key

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
]

DEFAULT_SAVE_INTERVAL = 500


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    given = value
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{name}={given!r}: expected an integer >= {minimum}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={given!r}: expected an integer >= {minimum}")
    return value


def parse_int_list(name: str, value: Any) -> list[int] | None:
    """``"1,2, 5"`` or ``[1, 2, 5]`` -> ``[1, 2, 5]`` (each >= 0)."""
    if value is None:
        return None
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    out = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        out.append(_check_int(name, item, 0, allow_none=False))
    return sorted(set(int(v) for v in out if v is not None))


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{name}={value!r}: expected true or false")


@dataclass(frozen=True)
class SaveConfigMode:
    """Which steps of one mode are saved. ``None`` fields inherit from the :class:`SaveConfig`."""

    save_interval: int | None = None
    start_step: int | None = None
    end_step: int | None = None
    save_steps: tuple[int, ...] | None = None

    def __init__(
        self,
        save_interval: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
        save_steps: Iterable[int] | None = None,
    ) -> None:
        object.__setattr__(self, "save_interval", _check_int("save_interval", save_interval, 1))
        object.__setattr__(self, "start_step", _check_int("start_step", start_step, 0))
        object.__setattr__(self, "end_step", _check_int("end_step", end_step, 0))
        steps = parse_int_list("save_steps", save_steps)
        object.__setattr__(self, "save_steps", None if steps is None else tuple(steps))
        if self.start_step is not None and self.end_step is not None and self.end_step < self.start_step:
            raise ValueError(
                f"end_step={self.end_step} is before start_step={self.start_step}: expected end_step >= start_step"
            )

    def should_save_step(self, step: int) -> bool:
        """A step is saved if it is in ``save_steps``, or in [start, end) on the interval."""
        if self.save_steps and step in self.save_steps:
            return True
        interval = self.save_interval or DEFAULT_SAVE_INTERVAL
        start = self.start_step or 0
        if step < start or (self.end_step is not None and step >= self.end_step):
            return False
        return step % interval == 0

    def next_save_step(self, step: int) -> int | None:
        """The first step >= ``step`` that is saved, or None if no later step is."""
        found = [s for s in self.save_steps or () if s >= step]
        interval = self.save_interval or DEFAULT_SAVE_INTERVAL
        s = max(step, self.start_step or 0)
        s = -(-s // interval) * interval
        if self.end_step is None or s < self.end_step:
            found.append(s)
        return min(found) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "save_interval": self.save_interval,
            "start_step": self.start_step,
            "end_step": self.end_step,
            "save_steps": list(self.save_steps) if self.save_steps is not None else None,
        }


class SaveConfig:
    """Which steps are saved, per mode.

    ``SaveConfig(save_interval=500, start_step=0, end_step=None, save_steps=None,
    mode_save_configs=None)``; ``mode_save_configs`` maps a mode to a :class:`SaveConfigMode`
    (or a dict of its fields) that overrides the defaults for that mode. Steps here are the
    mode's own step counter (``mode_step``), as in smdebug.
    """

    def __init__(
        self,
        mode_save_configs: Mapping[Any, SaveConfigMode | Mapping[str, Any] | None] | None = None,
        save_interval: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
        save_steps: Iterable[int] | None = None,
    ) -> None:
        base = SaveConfigMode(
            save_interval=DEFAULT_SAVE_INTERVAL if save_interval is None else save_interval,
            start_step=0 if start_step is None else start_step,
            end_step=end_step,
            save_steps=save_steps,
        )
        self._modes: dict[ModeKeys, SaveConfigMode] = {m: base for m in ModeKeys}
        for key, cfg in (mode_save_configs or {}).items():
            mode = parse_mode(key)
            if cfg is None:
                continue
            if isinstance(cfg, Mapping):
                cfg = SaveConfigMode(**dict(cfg))
            if not isinstance(cfg, SaveConfigMode):
                raise TypeError(f"mode_save_configs[{key!r}]={cfg!r}: expected a SaveConfigMode or a dict")
            self._modes[mode] = SaveConfigMode(
                save_interval=cfg.save_interval if cfg.save_interval is not None else base.save_interval,
                start_step=cfg.start_step if cfg.start_step is not None else base.start_step,
                end_step=cfg.end_step if cfg.end_step is not None else base.end_step,
                save_steps=cfg.save_steps if cfg.save_steps is not None else base.save_steps,
            )

    def get_save_config(self, mode: ModeLike) -> SaveConfigMode:
        return self._modes[parse_mode(mode)]

    def should_save_step(self, mode: ModeLike, step: int) -> bool:
        return self._modes[parse_mode(mode)].should_save_step(step)

    def next_save_step(self, mode: ModeLike, step: int) -> int | None:
        """The first step >= ``step`` of ``mode`` that is saved, or None."""
        return self._modes[parse_mode(mode)].next_save_step(step)

    def to_dict(self) -> dict[str, Any]:
        return {m.name: c.to_dict() for m, c in self._modes.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SaveConfig:
        return cls(mode_save_configs={k: v for k, v in data.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SaveConfig) and self._modes == other._modes

    def __repr__(self) -> str:
        return f"SaveConfig({self.to_dict()!r})"


@dataclass(frozen=True)
class ReductionConfig:
    """What is saved of each tensor.

    ``reductions``/``abs_reductions`` take names from min, max, mean, std, variance, sum, prod;
    ``norms``/``abs_norms`` take l1, l2. With none of them, the raw tensor is saved;
    ``save_raw_tensor=True`` saves it in addition to the reductions. ``save_shape`` records the
    shape even when only reductions are saved (the shape is always kept with raw tensors).
    """

    reductions: tuple[str, ...] = ()
    abs_reductions: tuple[str, ...] = ()
    norms: tuple[str, ...] = ()
    abs_norms: tuple[str, ...] = ()
    save_raw_tensor: bool = False
    save_shape: bool = False
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
        keys = [reduction_key(n) for n in self.reductions + self.norms]
        keys += [reduction_key(n, abs=True) for n in self.abs_reductions + self.abs_norms]
        object.__setattr__(self, "keys", tuple(dict.fromkeys(keys)))

    @property
    def saves_raw(self) -> bool:
        """True when the raw tensor is saved (asked for, or no reduction was asked for)."""
        return self.save_raw_tensor or not self.keys

    @classmethod
    def from_tokens(
        cls, tokens: str | Iterable[str], save_raw_tensor: bool = False, save_shape: bool = False
    ) -> ReductionConfig:
        """smdebug's JSON form: ``"mean,abs_max,l2,abs_l1"``."""
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
            if base in ALLOWED_NORMS:
                (abs_norms if is_abs else norms).append(base)
            elif base in ALLOWED_REDUCTIONS:
                (abs_red if is_abs else red).append(base)
            else:
                allowed = ", ".join(ALLOWED_REDUCTIONS + ALLOWED_NORMS)
                raise ValueError(
                    f"reductions contains {tok!r}: expected {allowed}, each optionally prefixed abs_"
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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReductionConfig:
        return cls(**{k: v for k, v in data.items() if k != "keys"})


# -- collection parameters (smdebug's JSON keys) ---------------------------------------------
_SAVE_KEYS = ("save_interval", "start_step", "end_step", "save_steps")
_OTHER_KEYS = ("include_regex", "reductions", "save_raw_tensor", "save_shape", "save_histogram")
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
    base = {k: params[k] for k in _SAVE_KEYS if k in params}
    modes: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        for prefix in _MODE_PREFIXES:
            if key.startswith(prefix) and key[len(prefix) :] in _SAVE_KEYS:
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


def validate_collection_parameters(name: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError naming any unknown key or bad value in a collection's parameters."""
    for key in params:
        base = key
        for prefix in _MODE_PREFIXES:
            if key.startswith(prefix):
                base = key[len(prefix) :]
                if base not in _SAVE_KEYS:
                    raise ValueError(
                        f"collection {name!r}: unknown parameter {key!r}; a mode prefix takes one of {', '.join(_SAVE_KEYS)}"
                    )
        if base not in _SAVE_KEYS + _OTHER_KEYS:
            allowed = ", ".join(_SAVE_KEYS + _OTHER_KEYS)
            raise ValueError(
                f"collection {name!r}: unknown parameter {key!r}; expected one of {allowed} "
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
