"""Models from outside the package: a user's own model without a fork.

The registry (:mod:`explorer.models`) loads, besides the bundled models,

* every entry point of the group ``explorer.models`` of the installed distributions: a package
  declares ``[project.entry-points."explorer.models"] poisson = "poisson_mixture.model"`` (a
  module whose classes are decorated with ``@register``, or a Model subclass, registered then);
* every model file the user names: ``--model-file PATH`` on the command line (``fit``, ``sweep``,
  ``replay``, ``gui``, ``warmup``, ``check-model``), or a folder of ``.py`` files in
  ``EXPLORER_MODEL_PATH`` (several folders separated by ``os.pathsep``; files whose name starts
  with ``_`` are skipped, as in the package).

Code is loaded only from what the user installed or named: a session file or an exported set names
a model by its id, never a file of code, so opening one runs nothing that was not already
installed or named. ``--model-file`` is recorded in the process's environment
(``EXPLORER_MODEL_FILES``) so that the worker processes a sweep, a warm-up or a local Dask cluster
starts load the same files.

A model that fails to load (a syntax error, a failed import, an id already taken) is reported as a
:class:`LoadProblem` naming its file (or entry point) and the reason; the other models still load.
``explorer models`` and ``explorer check-model`` print the problems; an unknown model id's message
lists them.

This module imports nothing of the explorer's at import time: the registry calls it, and the
files it loads import :func:`explorer.models.register` themselves.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

ENTRY_POINT_GROUP = "explorer.models"
MODEL_PATH_VARIABLE = "EXPLORER_MODEL_PATH"
# The files named with --model-file, inherited by the worker processes this process starts.
MODEL_FILES_VARIABLE = "EXPLORER_MODEL_FILES"


@dataclass(frozen=True)
class LoadProblem:
    """A model that could not be loaded: where it was to come from and why not."""

    source: str  # the file's path, or "entry point NAME = VALUE (DISTRIBUTION)"
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class ModelFileError(ValueError):
    """A model file named by the user that cannot be used (missing, not a .py file)."""


# The sources tried in this process (each once), and the problems met.
_tried: set[str] = set()
_problems: list[LoadProblem] = []
_entry_points_done = False


def problems() -> list[LoadProblem]:
    """Every external model that failed to load in this process, in the order met."""
    return list(_problems)


def check_model_file(path) -> Path:
    """The resolved path of a model file the user named; ModelFileError with one line if it is
    not an existing ``.py`` file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if p.suffix != ".py":
        raise ModelFileError(f"{path}: a model file is a Python file ending in .py")
    return p.resolve()


def add_model_file(path) -> Path:
    """Name a model file for this process and the worker processes it starts (``--model-file``).
    Returns its resolved path; raises ModelFileError."""
    p = check_model_file(path)
    named = named_model_files()
    if p not in named:
        os.environ[MODEL_FILES_VARIABLE] = os.pathsep.join(str(f) for f in [*named, p])
    return p


def named_model_files() -> list[Path]:
    """The files named with ``--model-file`` (this process or its parent)."""
    value = os.environ.get(MODEL_FILES_VARIABLE, "")
    return [Path(f) for f in value.split(os.pathsep) if f]


def model_path_files() -> list[Path]:
    """The ``.py`` files of the ``EXPLORER_MODEL_PATH`` folders, in folder then name order."""
    files = []
    for folder in os.environ.get(MODEL_PATH_VARIABLE, "").split(os.pathsep):
        if not folder:
            continue
        d = Path(folder).expanduser()
        if not d.is_dir():
            _problem(str(d), f"{MODEL_PATH_VARIABLE} names a folder that does not exist")
            continue
        files.extend(sorted(f.resolve() for f in d.glob("*.py") if not f.name.startswith("_")))
    return files


def package_root(path: Path) -> Path | None:
    """The folder to import a model file from by its dotted name when it sits in a package
    (folders with ``__init__.py``): ``.../poisson-mixture`` for
    ``.../poisson-mixture/poisson_mixture/model.py``; None for a lone file."""
    folder = path.parent
    if not (folder / "__init__.py").is_file():
        return None
    while (folder.parent / "__init__.py").is_file():
        folder = folder.parent
    return folder.parent


def module_name_for(path: Path) -> str:
    """The name a model file is imported under. A file in a package gets its dotted name
    (``poisson_mixture.model``), the name an entry point imports it by; a lone file its stem with
    a digest of its path (two files of one name never collide). Either way one file has one name
    in every process, which numba's on-disk cache needs (a cached kernel is rebuilt by importing
    its module by name)."""
    root = package_root(path)
    if root is not None:
        return ".".join(path.relative_to(root).with_suffix("").parts)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"explorer_model_file_{stem}_{digest}"


def load_model_file(path) -> ModuleType:
    """Import one model file (its ``@register`` decorators register its models). Raises what the
    import raises; :func:`load_external` catches it and reports it."""
    p = check_model_file(path)
    name = module_name_for(p)
    root = package_root(p)
    if root is not None:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        module = importlib.import_module(name)
        if Path(getattr(module, "__file__", "") or "").resolve() != p:
            raise ModelFileError(
                f"{p}: another module named {name} is already imported "
                f"(from {getattr(module, '__file__', '?')})"
            )
        return module
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"{p}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    # In sys.modules before it runs: dataclasses and numba's cache look the module up by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _problem(source: str, reason: str) -> None:
    problem = LoadProblem(source, reason)
    if problem not in _problems:
        _problems.append(problem)


def _reason(e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    return f"{type(e).__name__}: {e}"


def _register_classes(obj, register: Callable, model_base: type) -> None:
    """An entry point may name a Model subclass (registered here) or a module (its decorators
    did it)."""
    if isinstance(obj, type) and issubclass(obj, model_base):
        register(obj)
    elif not isinstance(obj, ModuleType):
        raise TypeError(f"names {obj!r}, neither a module nor a Model subclass")


def load_external(register: Callable, model_base: type) -> None:
    """Load every external model not tried yet in this process: the entry points (once), then
    the files named by ``--model-file`` and ``EXPLORER_MODEL_PATH`` (looked at again on every call,
    so a file named after the first call is still found). Failures become :func:`problems`."""
    global _entry_points_done
    if not _entry_points_done:
        _entry_points_done = True
        try:
            eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        except Exception as e:  # noqa: BLE001 - a broken installation must not stop the window
            _problem(f"entry points {ENTRY_POINT_GROUP}", _reason(e))
            eps = ()
        for ep in eps:
            dist = getattr(getattr(ep, "dist", None), "name", None)
            source = f"entry point {ep.name} = {ep.value}" + (f" ({dist})" if dist else "")
            try:
                _register_classes(ep.load(), register, model_base)
            except Exception as e:  # noqa: BLE001 - reported; the other models still load
                _problem(source, _reason(e))
    for path in [*named_model_files(), *model_path_files()]:
        key = str(path)
        if key in _tried:
            continue
        _tried.add(key)
        try:
            load_model_file(path)
        except Exception as e:  # noqa: BLE001 - reported; the other models still load
            _problem(key, _reason(e))


def forget(path=None) -> None:
    """Forget that ``path`` (or every source, entry points included) was tried, so that the next
    :func:`load_external` loads it again; its problems and its module are dropped too (the tests
    use this; the models it registered stay registered until ``unregister``)."""
    global _entry_points_done
    if path is None:
        _tried.clear()
        _problems.clear()
        _entry_points_done = False
        return
    resolved = Path(path).resolve()
    _tried.discard(str(resolved))
    _problems[:] = [p for p in _problems if p.source != str(resolved)]
    sys.modules.pop(module_name_for(resolved), None)
