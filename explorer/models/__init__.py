"""The model registry: short id -> model class.

Every module in this package that defines a subclass of :class:`~explorer.models.base.Model` and
decorates it with :func:`register` is found automatically, so adding a model means adding one file.
Models from outside the package (an installed package's ``explorer.models`` entry point, a file
named with ``--model-file`` or found in an ``EXPLORER_MODEL_PATH`` folder) are loaded by
:mod:`explorer.plugins` after the bundled ones; one that fails to load is reported
(:func:`load_problems`) and the others still load. The GUI's model list, the CLI and the tests all
read :func:`registry`.
"""

from __future__ import annotations

import importlib
import pkgutil

from explorer import plugins
from explorer.models.base import Model

_REGISTRY: dict[str, type[Model]] = {}
_LOADED = False


def register(cls: type[Model]) -> type[Model]:
    if not cls.id:
        raise TypeError(f"{cls.__name__} has no id")
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise TypeError(f"model id '{cls.id}' registered twice")
    _REGISTRY[cls.id] = cls
    return cls


def unregister(model_id: str) -> None:
    """Forget a registered id (the tests' ``register_models`` fixture registers small test models
    for one test and forgets them afterwards); an unknown id is ignored."""
    _REGISTRY.pop(model_id, None)


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith("_") or info.name == "base":
                continue
            importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True
    # Entry points once; model files named since the last call (cheap when none are named).
    plugins.load_external(register, Model)


def load_problems() -> list[plugins.LoadProblem]:
    """External models that failed to load (file or entry point, and why)."""
    _load_all()
    return plugins.problems()


def registry() -> dict[str, type[Model]]:
    """All models by id, in a stable order (table models first, then networks)."""
    _load_all()
    order = {"table": 0, "network": 1, "temporal": 2}
    return dict(
        sorted(_REGISTRY.items(), key=lambda kv: (order.get(kv[1].data_kinds[0], 9), kv[0]))
    )


def get_model(model_id: str) -> type[Model]:
    reg = registry()
    if model_id not in reg:
        failed = "".join(f"; not loaded: {p}" for p in plugins.problems())
        raise KeyError(f"unknown model '{model_id}'; known models: {', '.join(reg)}{failed}")
    return reg[model_id]
