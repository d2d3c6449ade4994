"""Which steps are saved: :class:`SaveConfig` and :class:`SaveConfigMode` (smdebug's names and
JSON shape), and the small value parsers the configs share. Re-exported by :mod:`smdbg.config`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smdbg.modes import ModeKeys, ModeLike, parse_mode

__all__ = [
    "SaveConfigMode", "SaveConfig", "parse_bool", "parse_int_list", "load_json_object", "SAVE_KEYS", "DEFAULT_SAVE_INTERVAL",
]  # fmt: skip

SAVE_KEYS = ("save_interval", "start_step", "end_step", "save_steps")

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

    to_json_dict = to_dict  # smdebug's name

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SaveConfigMode | None:
        """The inverse of :meth:`to_dict` (None stays None); unknown keys raise ValueError."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise TypeError(f"SaveConfigMode.from_dict({data!r}): expected a dict")
        unknown = sorted(set(data) - set(SAVE_KEYS))
        if unknown:
            raise ValueError(f"SaveConfigMode: unknown key(s) {unknown}; expected {', '.join(SAVE_KEYS)}")
        return cls(**dict(data))


class SaveConfig:
    """Which steps are saved, per mode.

    ``SaveConfig(save_interval=500, start_step=0, end_step=None, save_steps=None,
    mode_save_configs=None)``; ``mode_save_configs`` maps a mode to a :class:`SaveConfigMode`
    (or a dict of its fields) that overrides the defaults for that mode. Steps here are the
    mode's own step counter (``mode_step``), as in smdebug.

    Given only ``mode_save_configs``, the modes it leaves out *inherit*: as a collection's
    config, they follow the hook's save config (smdebug's merge of a collection's config with
    the hook's); on its own, they take the defaults (every 500 steps). ``inherits(mode)`` tells.
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
        given = (save_interval, start_step, end_step, save_steps) != (None, None, None, None)
        inherit = set() if given or mode_save_configs is None else set(ModeKeys)
        for key, cfg in (mode_save_configs or {}).items():
            mode = parse_mode(key)
            if cfg is None:
                continue
            inherit.discard(mode)
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

        self._inherit = frozenset(inherit)

    def inherits(self, mode: ModeKeys) -> bool:
        """True when ``mode`` was left out of ``mode_save_configs`` (and no base setting was
        given): a collection with this config saves that mode as the hook's config says."""
        return mode in self._inherit

    def get_save_config(self, mode: ModeLike) -> SaveConfigMode:
        return self._modes[parse_mode(mode)]

    def should_save_step(self, mode: ModeLike, step: int) -> bool:
        return self._modes[parse_mode(mode)].should_save_step(step)

    def next_save_step(self, mode: ModeLike, step: int) -> int | None:
        """The first step >= ``step`` of ``mode`` that is saved, or None."""
        return self._modes[parse_mode(mode)].next_save_step(step)

    @property
    def mode_save_configs(self) -> dict[ModeKeys, SaveConfigMode]:
        """Each mode's settings (a copy: a SaveConfig does not change once made)."""
        return dict(self._modes)

    def to_dict(self) -> dict[str, Any]:
        """``{"TRAIN": {"save_interval": ..., ...}, ...}``: smdebug's JSON shape (``None`` for a
        mode that inherits)."""
        return {m.name: None if m in self._inherit else c.to_dict() for m, c in self._modes.items()}

    to_json_dict = to_dict  # smdebug's name

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[Any, Any]) -> SaveConfig:
        """Modes (names or ``ModeKeys``) to a :class:`SaveConfigMode` or its dict, as
        :meth:`to_dict` writes and smdebug's ``SaveConfig.from_dict`` takes."""
        if not isinstance(data, Mapping):
            raise TypeError(f"SaveConfig.from_dict({data!r}): expected a dict of modes to save settings")
        return cls(mode_save_configs=dict(data))

    @classmethod
    def from_json(cls, text: str) -> SaveConfig:
        return cls.from_dict(load_json_object(text, "SaveConfig"))

    @classmethod
    def from_save_config_mode(cls, config: SaveConfigMode) -> SaveConfig:
        """Every mode saved as ``config`` says."""
        return cls(mode_save_configs={m: config for m in ModeKeys})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SaveConfig):
            return NotImplemented
        return self._modes == other._modes and self._inherit == other._inherit

    __hash__ = None  # type: ignore[assignment]  # equal by value, and not a dict key

    def __repr__(self) -> str:
        return f"SaveConfig({self.to_dict()!r})"


def load_json_object(text: str, what: str) -> Any:
    """``json.loads`` for ``<what>.from_json``: ValueError naming the text that does not parse."""
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what}.from_json({text!r:.60}): not valid JSON ({e})") from e
