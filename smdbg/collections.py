"""Collections: named groups of tensors with their own save and reduction configs.

A tensor belongs to a collection if its name is one of the collection's explicit tensor names
or matches one of its include regexes (``re.search``). Built-in names follow smdebug.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from smdbg._save_config import load_json_object
from smdbg.config import (
    CollectionConfig,
    ReductionConfig,
    SaveConfig,
    compile_regex,
    parse_collection_parameters,
    validate_collection_parameters,
)

__all__ = [
    "CollectionKeys",
    "BUILTIN_COLLECTIONS",
    "Collection",
    "CollectionManager",
    "validate_collection_parameters",
    "compile_regex",
]

class CollectionKeys:
    DEFAULT = "default"
    ALL = "all"
    WEIGHTS = "weights"
    BIASES = "biases"
    GRADIENTS = "gradients"
    LOSSES = "losses"
    INPUTS = "inputs"
    OUTPUTS = "outputs"
    OPTIMIZER_VARIABLES = "optimizer_variables"
    METRICS = "metrics"
    SCALARS = "scalars"


BUILTIN_COLLECTIONS: tuple[str, ...] = (
    "default", "all", "weights", "biases", "gradients", "losses",
    "inputs", "outputs", "optimizer_variables", "metrics", "scalars",
)  # fmt: skip

class _NameSet(set):  # type: ignore[type-arg]
    """A collection's explicit tensor names: a set whose every change counts as a change of its
    collection (hook plans are cached until one)."""

    def __init__(self, names: Iterable[str] = (), owner: Collection | None = None) -> None:
        super().__init__(names)
        self._owner = weakref.ref(owner) if owner is not None else None

    def _changed(self) -> None:
        owner = self._owner() if self._owner is not None else None
        if owner is not None:
            owner._changed()

    def add(self, name: str) -> None:
        if name not in self:
            super().add(name)
            self._changed()

    def discard(self, name: object) -> None:
        super().discard(name)
        self._changed()

    def remove(self, name: str) -> None:
        super().remove(name)
        self._changed()

    def pop(self) -> str:
        self._changed()
        return str(super().pop())

    def clear(self) -> None:
        super().clear()
        self._changed()

    def update(self, *others: Iterable[str]) -> None:
        super().update(*others)
        self._changed()

    def difference_update(self, *others: Iterable[Any]) -> None:
        super().difference_update(*others)
        self._changed()

    def intersection_update(self, *others: Iterable[Any]) -> None:
        super().intersection_update(*others)
        self._changed()

    def symmetric_difference_update(self, other: Iterable[str]) -> None:
        super().symmetric_difference_update(other)
        self._changed()

    def __ior__(self, other: Any) -> _NameSet:  # type: ignore[misc,override]
        self.update(other)
        return self

    def __iand__(self, other: Any) -> _NameSet:  # type: ignore[misc,override]
        self.intersection_update(other)
        return self

    def __isub__(self, other: Any) -> _NameSet:  # type: ignore[misc,override]
        self.difference_update(other)
        return self

    def __ixor__(self, other: Any) -> _NameSet:  # type: ignore[misc,override]
        self.symmetric_difference_update(other)
        return self


class Collection:
    """A named group of tensors; ``include(regex)`` adds a pattern, ``add_tensor_name`` a name.

    Every change (a pattern, a name, a config, any attribute) bumps the ``version`` of each
    :class:`CollectionManager` that holds the collection: hooks read that number to know when
    their cached plans are stale. Nothing is pushed to a hook.
    """

    _managers: weakref.WeakSet[CollectionManager]

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "tensor_names" and not isinstance(value, _NameSet):
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise TypeError(f"tensor_names={value!r}: expected a list or set of tensor names")
            value = _NameSet(value, owner=self)  # a plain set assigned here: its later changes count too
        elif key == "save_config" and isinstance(value, Mapping):
            value = SaveConfig(mode_save_configs=value)  # smdebug: {mode: SaveConfigMode}
        elif key == "save_config" and value is not None and not isinstance(value, SaveConfig):
            raise TypeError(f"collection {self.name!r}: save_config={value!r}: expected smd.SaveConfig or None")
        elif key == "reduction_config" and value is not None and not isinstance(value, ReductionConfig):
            raise TypeError(
                f"collection {self.name!r}: reduction_config={value!r}: expected smd.ReductionConfig or None"
            )
        object.__setattr__(self, key, value)
        self._changed()

    def __init__(
        self,
        name: str,
        include_regex: Iterable[str] | None = None,
        tensor_names: Iterable[str] | None = None,
        save_config: SaveConfig | None = None,
        reduction_config: ReductionConfig | None = None,
        save_histogram: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"collection name {name!r}: expected a non-empty string")
        # the managers holding this collection (weakly: a collection may outlive its hooks)
        object.__setattr__(self, "_managers", weakref.WeakSet())
        self.name = name
        self._patterns: list[re.Pattern[str]] = []
        self.tensor_names: set[str] = _NameSet(tensor_names or (), owner=self)
        self.save_config = save_config
        self.reduction_config = reduction_config
        self.save_histogram = bool(save_histogram)
        # framework objects (a torch module, a Gluon block, a Keras layer) whose inputs/outputs
        # join this collection: {object: (inputs, outputs)}; a hook turns them into names
        self._modules: dict[Any, tuple[bool, bool]] = {}
        for regex in [include_regex] if isinstance(include_regex, str) else include_regex or ():
            self.include(regex)

    def _changed(self) -> None:
        for manager in self._managers:
            manager.version += 1

    @property
    def include_regex(self) -> list[str]:
        return [p.pattern for p in self._patterns]

    def include(self, regex: str | Iterable[str]) -> None:
        for r in [regex] if isinstance(regex, str) else list(regex):
            if r not in self.include_regex:
                self._patterns.append(compile_regex(r, f"collection {self.name!r}"))
                self._changed()

    def add_tensor_name(self, name: str) -> None:
        self.tensor_names.add(name)  # counted as a change by _NameSet

    def remove_tensor_name(self, name: str) -> None:
        self.tensor_names.discard(name)

    def has_tensor_name(self, name: str) -> bool:
        return name in self.tensor_names

    # -- framework objects (smdebug's per-framework methods, one store) ---------------------------
    def add_module_tensors(self, module: Any, inputs: bool = False, outputs: bool = True) -> None:
        """PyTorch: save this module's inputs and/or outputs in this collection (named
        ``<module name>_input_<i>`` / ``_output_<i>`` once the module's model is registered)."""
        self._add_object(module, inputs, outputs)

    def add_block_tensors(self, block: Any, inputs: bool = False, outputs: bool = True) -> None:
        """MXNet: save this Gluon block's inputs and/or outputs in this collection."""
        self._add_object(block, inputs, outputs)

    def add_keras_layer(self, layer: Any, inputs: bool = False, outputs: bool = True) -> None:
        """Keras: save this layer's inputs and/or outputs in this collection."""
        self._add_object(layer, inputs, outputs)

    def _add_object(self, obj: Any, inputs: bool, outputs: bool) -> None:
        if not (inputs or outputs):
            raise ValueError(f"collection {self.name!r}: inputs=False and outputs=False saves nothing of {obj!r}")
        self._modules[obj] = (bool(inputs), bool(outputs))
        self._changed()

    @property
    def modules(self) -> dict[Any, tuple[bool, bool]]:
        """The objects given to ``add_module_tensors``/``add_block_tensors``/``add_keras_layer``,
        each with (inputs, outputs) (a copy)."""
        return dict(self._modules)

    def matches(self, tensor_name: str) -> bool:
        return tensor_name in self.tensor_names or any(p.search(tensor_name) for p in self._patterns)

    def apply_parameters(self, params: Mapping[str, Any]) -> None:
        """Apply smdebug-style collection parameters (see :class:`CollectionConfig`)."""
        p = parse_collection_parameters(self.name, params)
        if p.include_regex is not None:
            self.include(p.include_regex)
        if p.save_config is not None:
            self.save_config = p.save_config
        if p.reduction_config is not None:
            self.reduction_config = p.reduction_config
        if p.save_histogram is not None:
            self.save_histogram = p.save_histogram

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "include_regex": self.include_regex,
            "tensor_names": sorted(self.tensor_names),
            "save_config": self.save_config.to_dict() if self.save_config else None,
            "reduction_config": self.reduction_config.to_dict() if self.reduction_config else None,
            "save_histogram": self.save_histogram,
        }

    def to_json_dict(self) -> dict[str, Any]:
        """smdebug's JSON shape (the reduction config as ``{"reductions": "mean,l2_norm", ...}``)."""
        out = self.to_dict()
        out["reduction_config"] = self.reduction_config.to_json_dict() if self.reduction_config else None
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Collection:
        """The inverse of :meth:`to_dict` and :meth:`to_json_dict` (smdebug's shape too)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise ValueError(f"Collection.from_dict({data!r:.80}): expected a dict with a 'name'")
        return cls(
            data["name"],
            include_regex=data.get("include_regex") or (),
            tensor_names=data.get("tensor_names") or (),
            save_config=SaveConfig.from_dict(data["save_config"]) if data.get("save_config") else None,
            reduction_config=ReductionConfig.from_dict(data["reduction_config"])
            if data.get("reduction_config")
            else None,
            save_histogram=data.get("save_histogram", True),
        )

    @classmethod
    def from_json(cls, text: str) -> Collection:
        return cls.from_dict(load_json_object(text, "Collection"))

    def __eq__(self, other: object) -> bool:
        """Equal name, patterns, tensor names, configs and ``save_histogram`` (as in smdebug)."""
        if not isinstance(other, Collection):
            return NotImplemented
        return (
            self.name == other.name
            and self.include_regex == other.include_regex
            and set(self.tensor_names) == set(other.tensor_names)
            and self.save_config == other.save_config
            and self.reduction_config == other.reduction_config
            and self.save_histogram == other.save_histogram
        )

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Collection(name={self.name!r}, include_regex={self.include_regex!r}, tensor_names={sorted(self.tensor_names)!r})"


class CollectionManager:
    """The collections of a hook (or of a trial, read back).

    ``version`` grows with every change of the manager or of any collection it holds (a save
    config set, a pattern or tensor name added, a collection added): equal versions mean equal
    collections, so a hook re-plans only when it changed.
    """

    def __init__(self, collections: Iterable[Collection] = ()) -> None:
        self.version = 0
        self._collections: dict[str, Collection] = {}
        for c in collections:
            self.add(c)

    def add(self, collection: Collection | str) -> Collection:
        if isinstance(collection, str):
            collection = Collection(collection)
        self._collections[collection.name] = collection
        collection._managers.add(self)
        self.version += 1
        return collection

    def get(self, name: str, create: bool = True) -> Collection:
        if name not in self._collections:
            if not create:
                raise KeyError(f"no collection named {name!r}; known: {sorted(self._collections)}")
            self.add(Collection(name))
        return self._collections[name]

    def apply_config(self, config: CollectionConfig) -> Collection:
        coll = self.get(config.name)
        coll.apply_parameters(dict(config.parameters or {}))
        return coll

    def __contains__(self, name: object) -> bool:
        return name in self._collections

    def __iter__(self) -> Iterator[Collection]:
        return iter(list(self._collections.values()))

    def __len__(self) -> int:
        return len(self._collections)

    def names(self) -> list[str]:
        return list(self._collections)

    def to_dict(self) -> dict[str, Any]:
        return {name: c.to_dict() for name, c in self._collections.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionManager:
        return cls(Collection.from_dict(v) for v in data.values())
