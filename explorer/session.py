"""Sessions: the data a person loaded and every run they made, saved, reopened and replayed.

A session is one human-readable file ``NAME.explorer.json`` plus a sibling ``NAME.explorer.npz``
holding the fitted arrays (``run<id>/<name>``). The JSON::

    {"format": 1, "app": "explorer", "version": "0.1.0", "saved": "2026-12-01T13:30:00+00:00",
     "datasets": [{"path": "/abs/iris.csv", "relative_path": "iris.csv", "sha256": "...",
                   "kind": "table", "options": {"labels": "species", "standardize": false}}],
     "runs": [{"id": 1, "dataset": 0, "model": "gmm", "hyperparameters": {...}, "seed": 0,
               "max_iter": 300, "tol": 1e-6, "result": {...result.json...}}],
     "current_run": 1}

``format`` is the version of this layout. A file of an older format is upgraded on reading by the
functions in ``_UPGRADES`` (one per format step), so every session ever written keeps opening;
a file of a newer format than this program knows is refused with a message naming both numbers.
Data files are found by their absolute path, else by their path relative to the session file (a
session folder moved with its data keeps working); a data file whose sha256 differs from the one
saved is reported, never silently used, and so is a data set saved without a sha256
(``check_datasets``).

**A session file is untrusted input.** :func:`load_session` checks it against its format (the
schema in :func:`_check_document`: every field's type and range, the JSON's nesting depth, the
arrays file read without pickle) and raises :class:`SessionError` naming the field, never another
exception. It reads no data file: a session may name any path, so the data files it names outside
the session file's folder tree are returned by :func:`paths_outside`, and are read (hashed,
loaded, replayed) only once confirmed: ``session.confirm_paths(paths)`` after asking the user (the
window), ``explorer replay --allow-paths`` (without it, replay lists them and stops).

``replay(session)`` fits every run again, headless, and compares each objective with the saved one:
a session is also a reproducibility record (``explorer replay SESSION``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from explorer._version import __version__
from explorer.data.types import DataError
from explorer.export import file_sha256

FORMAT = 1
SUFFIX = ".explorer.json"


class SessionError(ValueError):
    """A session file that cannot be read: names the file and the problem."""


@dataclass
class DatasetEntry:
    path: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    relative_path: str | None = None

    def key(self) -> tuple:
        return (
            str(Path(self.path).resolve()),
            self.kind,
            json.dumps(self.options, sort_keys=True, default=str),
        )


@dataclass
class RunRecord:
    id: int
    dataset: int
    model: str
    hyperparameters: dict[str, Any]
    seed: int
    max_iter: int
    tol: float
    result: dict[str, Any]  # the result.json content
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    iteration_times: list[float] = field(default_factory=list)  # seconds, one per iteration

    @property
    def objective(self) -> float | None:
        return self.result.get("objective", {}).get("final")


@dataclass
class Session:
    datasets: list[DatasetEntry] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    current_run: int | None = None
    # The folder of the session file it was read from (None: built in this process, every path
    # chosen by the user here), and the data files outside it the user has confirmed.
    folder: Path | None = field(default=None, repr=False)
    confirmed: set[str] = field(default_factory=set, repr=False)

    def confirm_paths(self, paths) -> None:
        """The user agreed to read these data files (from :func:`paths_outside`)."""
        self.confirmed.update(str(Path(p).resolve()) for p in paths)

    # ---- building ----------------------------------------------------------------------------
    def dataset_index(
        self, path, kind: str, options: dict[str, Any] | None = None, sha256: str | None = None
    ) -> int:
        """The index of this (file, kind, loader options), added when new."""
        from explorer.data import LOAD_OPTIONS

        # Only the loader options of this kind (a window's option set also holds e.g. "kind").
        options = {k: v for k, v in (options or {}).items() if k in LOAD_OPTIONS[kind]}
        entry = DatasetEntry(
            path=str(Path(path).resolve()), kind=kind, options=_plain(options), sha256=sha256
        )
        for i, existing in enumerate(self.datasets):
            if existing.key() == entry.key():
                return i
        self.datasets.append(entry)
        return len(self.datasets) - 1

    def add_run(
        self, result, options: dict[str, Any] | None = None, run_id: int | None = None
    ) -> RunRecord:
        """Record a finished fit (a runner.FitResult); ``options`` are the loader options used.
        ``run_id`` numbers it (the window's run number, so the Runs tab and the log agree; it
        must be above every run's), else it takes the next number."""
        from explorer.export import fitted_arrays, result_dict

        data = result.data
        if options is None:
            options = getattr(data, "load_options", {}) or {}
        if getattr(data, "path", None) is None:
            raise SessionError(
                "a run on data that was not loaded from a file cannot be saved "
                "in a session (nothing to reload it from)"
            )
        ds = self.dataset_index(data.path, data.kind, options, getattr(data, "sha256", None))
        last = max((r.id for r in self.runs), default=0)
        if run_id is not None and run_id <= last:
            raise SessionError(f"run {run_id} would not be the session's newest (run {last} is)")
        rid = last + 1 if run_id is None else int(run_id)
        record = RunRecord(
            id=rid,
            dataset=ds,
            model=result.model.id,
            hyperparameters=_plain(result.model.hp.as_dict()),
            seed=result.seed,
            max_iter=result.max_iter,
            tol=result.tol,
            result=result_dict(result),
            arrays=fitted_arrays(result),
            iteration_times=[float(t) for t in result.iteration_times],
        )
        self.runs.append(record)
        self.current_run = rid
        return record

    def remove_run(self, run_id: int) -> None:
        self.runs = [r for r in self.runs if r.id != run_id]
        if self.current_run == run_id:
            self.current_run = self.runs[-1].id if self.runs else None

    def run(self, run_id: int) -> RunRecord:
        for r in self.runs:
            if r.id == run_id:
                return r
        raise KeyError(run_id)

    # ---- files -------------------------------------------------------------------------------
    def to_json(self, session_path: Path) -> dict[str, Any]:
        datasets = []
        for d in self.datasets:
            entry = {
                "path": d.path,
                "relative_path": _relative(d.path, session_path.parent),
                "sha256": d.sha256,
                "kind": d.kind,
                "options": d.options,
            }
            datasets.append(entry)
        runs = [
            {
                "id": r.id,
                "dataset": r.dataset,
                "model": r.model,
                "hyperparameters": r.hyperparameters,
                "seed": r.seed,
                "max_iter": r.max_iter,
                "tol": r.tol,
                "arrays": sorted(r.arrays),
                "iteration_times": r.iteration_times,
                "result": r.result,
            }
            for r in self.runs
        ]
        return {
            "format": FORMAT,
            "app": "explorer",
            "version": __version__,
            "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "datasets": datasets,
            "runs": runs,
            "current_run": self.current_run,
        }

    def save(self, path) -> Path:
        """Write ``path`` (``.explorer.json`` added when missing) and its sibling ``.npz``."""
        from explorer.export import _clean, write_file_atomically

        path = session_path(path)
        doc = _clean(self.to_json(path))
        text = json.dumps(doc, indent=2, allow_nan=False)
        arrays = {f"run{r.id}/{name}": value for r in self.runs for name, value in r.arrays.items()}

        def write_npz(tmp):
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        # Arrays first, JSON last: a reader never finds a JSON naming arrays that are not there.
        # (A save that was killed leaves a temporary; the next save beside it removes it.)
        write_file_atomically(arrays_path(path), write_npz)
        write_file_atomically(path, lambda tmp: Path(tmp).write_text(text + "\n"))
        return path


def check_session_path(path) -> Path:
    """Before a fit that will be added to the session at ``path``: an existing session must
    open (SessionError), and its folder must take the files (OSError, one line), so that no fit
    is spent and then lost. Returns the session path; creates nothing that stays."""
    import secrets

    from explorer.export import hidden_stem, probe_writable

    path = session_path(path)
    if path.exists():
        load_session(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for target in (path, arrays_path(path)):
            if target.is_dir():
                raise IsADirectoryError(21, "is a folder", str(target))
            if (
                target.exists()
                and not os.access(target, os.W_OK)
                and not os.access(folder, os.W_OK)
            ):
                raise PermissionError(13, "Permission denied", str(target))
        probe = (
            folder
            / f".{hidden_stem(arrays_path(path).name)}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        )
        probe_writable(probe, lambda p: open(p, "xb").close(), Path.unlink)
    except OSError as e:
        raise OSError(
            f"{path}: cannot save the session there ({e.strerror or e} in {folder})"
        ) from None
    return path


def session_path(path) -> Path:
    path = Path(path)
    return path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)


def arrays_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name[: -len(".json")] + ".npz")


def _relative(target: str, base: Path) -> str | None:
    try:
        return str(Path(target).resolve().relative_to(base.resolve()))
    except ValueError:
        import os

        try:
            return os.path.relpath(Path(target).resolve(), base.resolve())
        except ValueError:  # another drive
            return None


def _plain(value):
    """JSON-friendly copies of option and hyperparameter values (paths become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# Upgrades from format n to n + 1, applied in order when an older file is read. Format 1 is the
# first; the next change of layout adds `_UPGRADES[1] = _from_1_to_2` and a checked-in fixture.
_UPGRADES: dict[int, Any] = {}


MAX_DEPTH = 64  # a session's JSON nests about 6 levels; anything deeper is damage
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_SEED = 2**63 - 1
# Loader options: the JSON types each may have (checked before any loader sees them).
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "columns": (str, list, type(None)),
    "standardize": (bool,),
    "labels": (str, type(None)),
    "missing": (str,),
    "dtype": (str,),
    "directed": (bool,),
    "test_pairs": (str, type(None)),
    "bin_width": (numbers.Real, type(None)),
}


class _Bad(Exception):
    """A field that does not match the session format (where, what)."""


def _depth(doc) -> int:
    """The nesting depth of a parsed JSON value (iterative: no recursion limit)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, d = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, d + 1) for v in items)
    return deepest


def _show(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _get(obj: dict, key: str, where: str, types, *, optional=False, default=None):
    if key not in obj:
        if optional:
            return default
        raise _Bad(f"{where}.{key}: missing")
    value = obj[key]
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _tuple(types))
    if not ok:
        raise _Bad(f"{where}.{key}: expected {_type_names(types)}, got {_show(value)}")
    return value


def _tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true or false",
        int: "a whole number",
        numbers.Real: "a number",
        type(None): "null",
    }
    return " or ".join(names.get(t, t.__name__) for t in _tuple(types))


def _whole(obj, key, where, lo, hi, *, optional=False, default=None) -> int | None:
    value = _get(
        obj, key, where, (int, type(None)) if optional else int, optional=optional, default=default
    )
    if value is None:
        return None
    if not lo <= value <= hi:
        raise _Bad(f"{where}.{key}: expected a whole number from {lo} to {hi}, got {value}")
    return int(value)


def _number(obj, key, where, *, lo=None, nullable=False, optional=False) -> float | None:
    types = (numbers.Real, type(None)) if nullable else numbers.Real
    value = _get(obj, key, where, types, optional=optional)
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or (lo is not None and value < lo):
        bound = f" >= {lo}" if lo is not None else ""
        raise _Bad(f"{where}.{key}: expected a finite number{bound}, got {value!r}")
    return value


def _check_document(doc: dict[str, Any], n_arrays_runs: set[str]) -> Session:
    """The session the document describes, every field checked (raises _Bad naming it)."""
    from explorer.models import registry

    session = Session()
    datasets = _get(doc, "datasets", "session", list)
    for i, d in enumerate(datasets):
        session.datasets.append(_check_dataset(d, f"datasets[{i}]"))
    models = registry()
    ids: set[int] = set()
    for i, r in enumerate(_get(doc, "runs", "session", list)):
        run = _check_run(r, f"runs[{i}]", session.datasets, models, n_arrays_runs)
        if run.id in ids:
            raise _Bad(f"runs[{i}].id: run {run.id} appears twice")
        ids.add(run.id)
        session.runs.append(run)
    current = _get(doc, "current_run", "session", (int, type(None)), optional=True)
    if current is not None and current not in ids:
        raise _Bad(f"session.current_run: no run {current}")
    session.current_run = current
    return session


def _check_dataset(d, where: str) -> DatasetEntry:
    """One entry of ``datasets``: its kind, paths, hash and loader options."""
    from explorer.data import LOAD_OPTIONS

    if not isinstance(d, dict):
        raise _Bad(f"{where}: expected an object, got {_show(d)}")
    kind = _get(d, "kind", where, str)
    if kind not in LOAD_OPTIONS:
        raise _Bad(f"{where}.kind: expected one of {', '.join(LOAD_OPTIONS)}, got {_show(kind)}")
    path = _get(d, "path", where, str)
    rel = _get(d, "relative_path", where, (str, type(None)), optional=True)
    sha = _get(d, "sha256", where, (str, type(None)), optional=True)
    if sha is not None and not _SHA256.match(sha):
        raise _Bad(f"{where}.sha256: expected 64 hexadecimal digits, got {_show(sha)}")
    options = _get(d, "options", where, (dict, type(None)), optional=True) or {}
    for name, value in options.items():
        if name not in LOAD_OPTIONS[kind]:
            raise _Bad(
                f"{where}.options.{name}: not an option of a {kind} "
                f"(one of {', '.join(LOAD_OPTIONS[kind])})"
            )
        _get(options, name, f"{where}.options", _OPTION_TYPES[name])
        if (
            name == "columns"
            and isinstance(value, list)
            and not all(isinstance(c, str) for c in value)
        ):
            raise _Bad(f"{where}.options.columns: expected a list of column names")
    if "\x00" in path or (rel is not None and "\x00" in rel):
        raise _Bad(f"{where}.path: holds a NUL character")
    return DatasetEntry(path=path, kind=kind, options=dict(options), sha256=sha, relative_path=rel)


def _check_run(r, where: str, datasets: list, models: dict, n_arrays_runs: set[str]) -> RunRecord:
    """One entry of ``runs``: its data set, model, hyperparameters, settings and result."""
    if not isinstance(r, dict):
        raise _Bad(f"{where}: expected an object, got {_show(r)}")
    rid = _whole(r, "id", where, 1, _MAX_SEED)
    if not datasets:
        raise _Bad(f"{where}.dataset: the session has no data sets")
    ds = _whole(r, "dataset", where, 0, len(datasets) - 1)
    model = _get(r, "model", where, str)
    if model not in models:
        raise _Bad(f"{where}.model: unknown model {_show(model)}")
    cls = models[model]
    if cls.data_kinds and datasets[ds].kind not in cls.data_kinds:
        raise _Bad(f"{where}.dataset: {model} does not fit a {datasets[ds].kind}")
    hp = _get(r, "hyperparameters", where, dict)
    try:
        cls.Hyperparameters.from_mapping(hp)
    except (ValueError, TypeError, OverflowError) as e:
        raise _Bad(f"{where}.hyperparameters: {e}") from None
    seed = _whole(r, "seed", where, 0, _MAX_SEED)
    max_iter = _whole(r, "max_iter", where, 1, 10**9)
    tol = _number(r, "tol", where, lo=0.0)
    result = _get(r, "result", where, dict)
    objective = _get(result, "objective", f"{where}.result", dict, optional=True, default={})
    _number(objective, "final", f"{where}.result.objective", nullable=True, optional=True)
    times = _get(r, "iteration_times", where, list, optional=True, default=[])
    for t in times:
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise _Bad(f"{where}.iteration_times: expected numbers, got {_show(t)}")
    names = _get(r, "arrays", where, list, optional=True, default=[])
    if names and f"run{rid}" not in n_arrays_runs:
        raise _Bad(f"{where}.arrays: not in the arrays file")
    return RunRecord(
        id=rid,
        dataset=ds,
        model=model,
        hyperparameters=dict(hp),
        seed=seed,
        max_iter=max_iter,
        tol=tol,
        result=dict(result),
        iteration_times=[float(t) for t in times],
    )


def _read_arrays(npz: Path) -> dict[str, dict[str, np.ndarray]]:
    """The arrays file, without pickle; SessionError naming the member for anything else."""
    arrays: dict[str, dict[str, np.ndarray]] = {}
    key = None
    try:
        with np.load(npz, allow_pickle=False) as z:
            for key in z.files:
                run, _, name = key.partition("/")
                arrays.setdefault(run, {})[name] = z[key]
    except ValueError as e:
        if "pickle" in str(e):
            raise SessionError(
                f"{npz}: {key}: holds a pickled (object) array, which a session "
                "never writes; not read"
            ) from None
        raise SessionError(f"{npz}: {key or 'the file'}: damaged ({e})") from None
    except Exception as e:  # BadZipFile, EOFError, OSError, zlib.error: a damaged member
        raise SessionError(
            f"{npz}: {key or 'the file'}: damaged or truncated ({type(e).__name__}: {e})"
        ) from None
    return arrays


def load_session(path) -> Session:
    """Read a session file (any format up to ``FORMAT``), checked against its format; raises
    SessionError naming the file and the field. Reads no data file (see :func:`paths_outside`)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SessionError(f"{path}: cannot read the session ({e.strerror or e})") from None
    except RecursionError:
        raise SessionError(
            f"{path}: not a session file (JSON nested more than {MAX_DEPTH} levels deep)"
        ) from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise SessionError(f"{path}: not a session file (invalid JSON: {e})") from None
    if _depth(doc) > MAX_DEPTH:
        raise SessionError(
            f"{path}: not a session file (JSON nested more than {MAX_DEPTH} levels deep)"
        )
    if not isinstance(doc, dict) or doc.get("app") != "explorer" or "format" not in doc:
        raise SessionError(f"{path}: not an explorer session file")
    fmt = doc["format"]
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise SessionError(f"{path}: unknown session format {_show(fmt)}")
    if fmt > FORMAT:
        raise SessionError(
            f"{path}: session format {fmt} is newer than this explorer reads "
            f"(format {FORMAT}, version {__version__}); upgrade the explorer"
        )
    while fmt < FORMAT:
        doc = _UPGRADES[fmt](doc)
        fmt += 1
    npz = arrays_path(path)
    arrays = _read_arrays(npz) if npz.exists() else {}
    try:
        session = _check_document(doc, set(arrays))
    except _Bad as e:
        raise SessionError(f"{path}: {e}") from None
    for r in session.runs:
        r.arrays = arrays.get(f"run{r.id}", {})
    base = path.parent
    for d in session.datasets:
        # The absolute path, else the one relative to the session (a folder moved with its
        # data); both only looked at (stat), never read here.
        p = Path(d.path)
        try:
            if not p.exists() and d.relative_path and (base / d.relative_path).exists():
                p = (base / d.relative_path).resolve()
        except (OSError, ValueError):
            pass
        d.path = str(p)
    session.folder = base.resolve()
    return session


def paths_outside(session: Session) -> list[Path]:
    """The data files the session would read that lie outside the session file's folder tree
    (symbolic links and ``..`` resolved) and are not confirmed yet: what the user must agree to
    before anything reads them. Empty for a session built in this process."""
    if session.folder is None:
        return []
    outside = []
    for d in session.datasets:
        p = Path(d.path)
        try:
            real = Path(os.path.realpath(p))
        except (OSError, ValueError):
            real = p
        if str(real) in session.confirmed or str(p.resolve()) in session.confirmed:
            continue
        try:
            real.relative_to(session.folder)
        except ValueError:
            if real not in outside:
                outside.append(real)
    return outside


def _refuse_unconfirmed(session: Session, d: DatasetEntry) -> None:
    p = Path(d.path)
    if session.folder is not None and Path(os.path.realpath(p)) in paths_outside(session):
        raise DataError(
            "data file outside the session's folder, not confirmed (explorer replay "
            "--allow-paths, or confirm it in the window)",
            path=d.path,
        )


def check_datasets(session: Session, *, hash_files: bool = True) -> list[str]:
    """One line per data file that is missing, not a regular file (a FIFO would block the read
    forever), changed since the session was saved, saved without a sha256 (it cannot be
    checked), or outside the session's folder and not confirmed (not read: see
    :func:`paths_outside`). ``hash_files=False`` reads no file: the change is then found by
    :func:`load_dataset` from the hash the loader computes as it reads (what ``explorer replay``
    does, so a data file is read and hashed once)."""
    problems = []
    outside = set(paths_outside(session))
    for d in session.datasets:
        p = Path(d.path)
        if Path(os.path.realpath(p)) in outside:
            problems.append(f"{d.path}: outside the session's folder; not read until confirmed")
        elif not p.exists():
            problems.append(f"{d.path}: data file not found")
        elif not p.is_file():
            problems.append(
                f"{d.path}: not a regular file (a FIFO, a folder or a device); not read"
            )
        elif not d.sha256:
            problems.append(
                f"{d.path}: no sha256 saved in the session: cannot check that the "
                "data file is the one the runs were made on"
            )
        elif hash_files:
            try:
                now = file_sha256(p)
            except (DataError, OSError) as e:
                problems.append(
                    str(e)
                    if isinstance(e, DataError)
                    else f"{d.path}: cannot read the data file ({e.strerror or e})"
                )
                continue
            if now != d.sha256:
                problems.append(f"{d.path}: {_changed(d.sha256, now)}")
    return problems


def _changed(saved: str, now: str) -> str:
    return (
        f"data file changed since the session was saved (sha256 {saved[:12]}... saved, "
        f"{now[:12]}... now)"
    )


def load_dataset(session: Session, index: int):
    """Load dataset ``index`` with its saved options; refuses a missing or changed file and one
    outside the session's folder that is not confirmed."""
    from explorer.data import load

    d = session.datasets[index]
    _refuse_unconfirmed(session, d)
    if not Path(d.path).exists():
        raise DataError(
            "data file not found (moved or deleted since the session was saved)", path=d.path
        )
    # The loader hashes the bytes it reads: one read of the file gives the data and its hash.
    try:
        data = load(d.path, kind=d.kind, **d.options)
    except DataError:
        # a changed file says so first (file_sha256 refuses a FIFO or a device: never blocks)
        if d.sha256 and Path(d.path).is_file() and (now := file_sha256(d.path)) != d.sha256:
            raise DataError(_changed(d.sha256, now), path=d.path) from None
        raise
    now = getattr(data, "sha256", None)
    if d.sha256 and now != d.sha256:
        raise DataError(_changed(d.sha256, str(now)), path=d.path)
    return data


@dataclass
class ReplayRow:
    run_id: int
    model: str
    saved: float | None
    replayed: float | None
    matches: bool
    problem: str | None = None


def replay(session: Session, out_dir=None, rtol: float = 1e-9) -> list[ReplayRow]:
    """Fit every run again from its saved settings; compare each objective with the saved one.

    ``rtol`` allows for the last bits of parallel reductions whose order depends on the number of
    threads (K-means over 50,000 rows); everything else repeats bit for bit.
    """
    from explorer import runner
    from explorer.export import export_result
    from explorer.models import get_model

    rows = []
    loaded: dict[int, Any] = {}  # per data set: the data, or why it cannot be loaded
    for r in session.runs:
        saved = r.objective
        try:
            if r.dataset not in loaded:  # each data file is read (and hashed) once
                try:
                    loaded[r.dataset] = load_dataset(session, r.dataset)
                except DataError as e:
                    loaded[r.dataset] = e
            if isinstance(loaded[r.dataset], DataError):
                raise loaded[r.dataset]
            cls = get_model(r.model)
            model = cls(cls.Hyperparameters.from_mapping(r.hyperparameters))
            res = runner.fit(
                model,
                loaded[r.dataset],
                seed=r.seed,
                max_iter=r.max_iter,
                tol=r.tol,
                snapshots=False,
            )
        except (DataError, KeyError, ValueError) as e:
            rows.append(ReplayRow(r.id, r.model, saved, None, False, str(e)))
            continue
        value = float(res.final_objective)
        same = (saved is None and not math.isfinite(value)) or (
            saved is not None
            and math.isfinite(value)
            and abs(value - saved) <= rtol * max(abs(value), abs(saved), 1e-300)
        )
        rows.append(ReplayRow(r.id, r.model, saved, value, bool(same)))
        if out_dir is not None:
            export_result(res, Path(out_dir) / f"run{r.id}")
    return rows
