"""smdebug's hook API around collections and the current hook: ``create_from_json_file``,
``get_hook``/``set_hook``/``del_hook`` (the class methods below), ``get_collection``,
``add_collection``, ``include_collection``, and the turning of ``Collection.modules`` objects
into name patterns. A mixin of :class:`~smdbg.hooks.base.BaseHook`, which provides what is
declared here (like :class:`~smdbg.hooks._saving.ScriptSaving`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from smdbg.collections import Collection, CollectionManager
from smdbg.config import CollectionConfig
from smdbg.hook_config import find_config_path, load_hook_config
from smdbg.hooks._plan import SavePlanner
from smdbg.hooks._support import current_hook, drop_current, set_current
from smdbg.modes import ModeKeys

__all__ = ["CollectionsAPI", "io_patterns"]

_H = TypeVar("_H", bound="CollectionsAPI")


def io_patterns(template: str, inputs: bool, outputs: bool, kinds: tuple[str, str] = ("input", "output")) -> list[str]:
    """``template`` with ``{kind}`` replaced by each of ``kinds`` asked for (inputs, outputs)."""
    return [template.replace("{kind}", k) for k, wanted in zip(kinds, (inputs, outputs)) if wanted]


class CollectionsAPI:
    """The collection calls and class-level constructors; the hook supplies what is declared here."""

    framework: ClassVar[str]
    collections: CollectionManager
    planner: SavePlanner
    mode: ModeKeys
    _saving: bool
    _quiet_left: int
    _closed: bool
    out_dir: str

    if TYPE_CHECKING:  # declarations only (the hook's own come first in the MRO)

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

        @property
        def mode_steps(self) -> dict[ModeKeys, int]: ...

    # -- construction and the current hook -------------------------------------------------------
    @classmethod
    def create_from_json_file(
        cls: type[_H], json_file_path: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> _H:
        """A hook configured by smdebug's JSON file (path, else ``$SMDBG_CONFIG_FILE_PATH``)."""
        cfg = load_hook_config(json_file_path)
        hook = cls(**{**cfg.hook_kwargs(), **kwargs})
        for cc in cfg.collection_configs:
            hook.collections.apply_config(cc)
        return hook

    @classmethod
    def set_current(cls, hook: CollectionsAPI) -> None:
        """smdebug's ``set_hook``: make ``hook`` what ``get_hook()`` returns for its framework."""
        if not isinstance(hook, cls):
            raise TypeError(f"set_hook({hook!r}): expected a {cls.__module__}.{cls.__name__}")
        if hook._closed:
            raise ValueError(f"set_hook: this {cls.__name__} for {hook.out_dir} is closed; create a new hook")
        set_current(cls.framework, hook)

    @classmethod
    def del_current(cls) -> None:
        """smdebug's ``del_hook``: ``get_hook()`` returns None until a hook is created or set."""
        drop_current(cls.framework)

    @classmethod
    def current_or_from_config(
        cls, json_config_path: str | os.PathLike[str] | None = None, create_if_not_exists: bool = False
    ) -> CollectionsAPI | None:
        """``get_hook`` of every framework: the current (last created, not closed) hook of this
        framework; else, with ``create_if_not_exists``, one of this class made from the JSON
        config (``json_config_path`` or ``$SMDBG_CONFIG_FILE_PATH``); else None."""
        hook = current_hook(cls.framework)
        if isinstance(hook, CollectionsAPI):
            return hook
        if create_if_not_exists and find_config_path(json_config_path) is not None:
            return cls.create_from_json_file(json_config_path)
        return None

    # -- collections ---------------------------------------------------------------------------
    def get_collection(self, name: str, create: bool = True) -> Collection:
        return self.collections.get(name, create=create)

    def get_collections(self) -> dict[str, Collection]:
        return {c.name: c for c in self.collections}

    def add_collection(self, collection: Collection | CollectionConfig) -> Collection:
        """Add (and include) a collection, or apply a CollectionConfig."""
        coll = (
            self.collections.apply_config(collection)
            if isinstance(collection, CollectionConfig)
            else self.collections.add(collection)
        )
        self.include_collection(coll.name)
        return coll

    def include_collection(self, name: str) -> None:
        if name not in self.planner.included:
            self.collections.get(name)
            self.planner.included.append(name)
            self._quiet_left = 0
            self._saving = self.planner.begin_step(self.mode, self.mode_steps[self.mode])

    def _object_patterns(self, obj: Any, inputs: bool, outputs: bool) -> list[str] | None:
        """Name patterns of a framework object's inputs/outputs (``add_module_tensors``,
        ``add_block_tensors``, ``add_keras_layer``); None while the hook cannot name it."""
        return None

    def _resolve_collection_objects(self) -> None:
        """Turn the objects of ``Collection.modules`` into include patterns of their collections
        (the planner calls this whenever the collections changed)."""
        for coll in self.collections:
            for obj, (inputs, outputs) in coll.modules.items():
                patterns = self._object_patterns(obj, inputs, outputs)
                if patterns is None:
                    self._unnamed_object(coll.name, obj)
                for pattern in patterns or ():
                    coll.include(pattern)

    def _unnamed_object(self, collection: str, obj: Any) -> None:
        """An object of ``Collection.modules`` the hook cannot name (yet)."""
