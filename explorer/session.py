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
saved is reported, never silently used (``check_datasets``).

``replay(session)`` fits every run again, headless, and compares each objective with the saved one:
a session is also a reproducibility record (``explorer replay SESSION``).
"""

from __future__ import annotations

import json
import math
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
        return (str(Path(self.path).resolve()), self.kind,
                json.dumps(self.options, sort_keys=True, default=str))


@dataclass
class RunRecord:
    id: int
    dataset: int
    model: str
    hyperparameters: dict[str, Any]
    seed: int
    max_iter: int
    tol: float
    result: dict[str, Any]                       # the result.json content
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    iteration_times: list[float] = field(default_factory=list)   # seconds, one per iteration

    @property
    def objective(self) -> float | None:
        return self.result.get("objective", {}).get("final")


@dataclass
class Session:
    datasets: list[DatasetEntry] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    current_run: int | None = None

    # ---- building ----------------------------------------------------------------------------
    def dataset_index(self, path, kind: str, options: dict[str, Any] | None = None,
                      sha256: str | None = None) -> int:
        """The index of this (file, kind, loader options), added when new."""
        from explorer.data import LOAD_OPTIONS

        # Only the loader options of this kind (a window's option set also holds e.g. "kind").
        options = {k: v for k, v in (options or {}).items() if k in LOAD_OPTIONS[kind]}
        entry = DatasetEntry(path=str(Path(path).resolve()), kind=kind,
                             options=_plain(options), sha256=sha256)
        for i, existing in enumerate(self.datasets):
            if existing.key() == entry.key():
                return i
        self.datasets.append(entry)
        return len(self.datasets) - 1

    def add_run(self, result, options: dict[str, Any] | None = None) -> RunRecord:
        """Record a finished fit (a runner.FitResult); ``options`` are the loader options used."""
        from explorer.export import fitted_arrays, result_dict

        data = result.data
        if options is None:
            options = getattr(data, "load_options", {}) or {}
        if getattr(data, "path", None) is None:
            raise SessionError("a run on data that was not loaded from a file cannot be saved "
                               "in a session (nothing to reload it from)")
        ds = self.dataset_index(data.path, data.kind, options, getattr(data, "sha256", None))
        rid = max((r.id for r in self.runs), default=0) + 1
        record = RunRecord(id=rid, dataset=ds, model=result.model.id,
                           hyperparameters=_plain(result.model.hp.as_dict()), seed=result.seed,
                           max_iter=result.max_iter, tol=result.tol, result=result_dict(result),
                           arrays=fitted_arrays(result),
                           iteration_times=[float(t) for t in result.iteration_times])
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
            entry = {"path": d.path, "relative_path": _relative(d.path, session_path.parent),
                     "sha256": d.sha256, "kind": d.kind, "options": d.options}
            datasets.append(entry)
        runs = [{"id": r.id, "dataset": r.dataset, "model": r.model,
                 "hyperparameters": r.hyperparameters, "seed": r.seed, "max_iter": r.max_iter,
                 "tol": r.tol, "arrays": sorted(r.arrays),
                 "iteration_times": r.iteration_times, "result": r.result}
                for r in self.runs]
        return {"format": FORMAT, "app": "explorer", "version": __version__,
                "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "datasets": datasets, "runs": runs, "current_run": self.current_run}

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
        write_file_atomically(arrays_path(path), write_npz)
        write_file_atomically(path, lambda tmp: Path(tmp).write_text(text + "\n"))
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
        except ValueError:      # another drive
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


def load_session(path) -> Session:
    """Read a session file (any format up to ``FORMAT``)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as e:
        raise SessionError(f"{path}: cannot read the session ({e.strerror or e})") from None
    except ValueError as e:
        raise SessionError(f"{path}: not a session file (invalid JSON: {e})") from None
    if not isinstance(doc, dict) or doc.get("app") != "explorer" or "format" not in doc:
        raise SessionError(f"{path}: not an explorer session file")
    fmt = doc["format"]
    if not isinstance(fmt, int) or fmt < 1:
        raise SessionError(f"{path}: unknown session format {fmt!r}")
    if fmt > FORMAT:
        raise SessionError(f"{path}: session format {fmt} is newer than this explorer reads "
                           f"(format {FORMAT}, version {__version__}); upgrade the explorer")
    while fmt < FORMAT:
        doc = _UPGRADES[fmt](doc)
        fmt += 1
    arrays: dict[str, dict[str, np.ndarray]] = {}
    npz = arrays_path(path)
    if npz.exists():
        with np.load(npz, allow_pickle=False) as z:
            for key in z.files:
                run, _, name = key.partition("/")
                arrays.setdefault(run, {})[name] = z[key]
    base = path.parent
    session = Session(current_run=doc.get("current_run"))
    try:
        for d in doc["datasets"]:
            p = Path(d["path"])
            rel = d.get("relative_path")
            if not p.exists() and rel and (base / rel).exists():
                p = (base / rel).resolve()
            session.datasets.append(DatasetEntry(path=str(p), kind=d["kind"],
                                                 options=dict(d.get("options") or {}),
                                                 sha256=d.get("sha256"), relative_path=rel))
        for r in doc["runs"]:
            session.runs.append(RunRecord(
                id=int(r["id"]), dataset=int(r["dataset"]), model=str(r["model"]),
                hyperparameters=dict(r["hyperparameters"]), seed=int(r["seed"]),
                max_iter=int(r["max_iter"]), tol=float(r["tol"]), result=dict(r["result"]),
                arrays=arrays.get(f"run{r['id']}", {}),
                iteration_times=[float(t) for t in r.get("iteration_times", [])]))
    except (KeyError, TypeError, ValueError) as e:
        raise SessionError(f"{path}: session file is incomplete or damaged ({e!r})") from None
    return session


def check_datasets(session: Session) -> list[str]:
    """One line per data file that is missing or changed since the session was saved."""
    problems = []
    for d in session.datasets:
        p = Path(d.path)
        if not p.exists():
            problems.append(f"{d.path}: data file not found")
        elif d.sha256 and (now := file_sha256(p)) != d.sha256:
            problems.append(f"{d.path}: data file changed since the session was saved "
                            f"(sha256 {d.sha256[:12]}... saved, {now[:12]}... now)")
    return problems


def load_dataset(session: Session, index: int):
    """Load dataset ``index`` with its saved options; refuses a missing or changed file."""
    from explorer.data import load

    d = session.datasets[index]
    if not Path(d.path).exists():
        raise DataError("data file not found (moved or deleted since the session was saved)",
                        path=d.path)
    # The loader hashes the bytes it reads: one read of the file gives the data and its hash.
    try:
        data = load(d.path, kind=d.kind, **d.options)
    except DataError:
        if d.sha256 and file_sha256(d.path) != d.sha256:    # a changed file says so first
            raise DataError("data file changed since the session was saved (sha256 differs)",
                            path=d.path) from None
        raise
    if d.sha256 and getattr(data, "sha256", None) != d.sha256:
        raise DataError("data file changed since the session was saved (sha256 differs)",
                        path=d.path)
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
    loaded: dict[int, Any] = {}
    for r in session.runs:
        saved = r.objective
        try:
            if r.dataset not in loaded:
                loaded[r.dataset] = load_dataset(session, r.dataset)
            cls = get_model(r.model)
            model = cls(cls.Hyperparameters.from_mapping(r.hyperparameters))
            res = runner.fit(model, loaded[r.dataset], seed=r.seed, max_iter=r.max_iter,
                             tol=r.tol, snapshots=False)
        except (DataError, KeyError, ValueError) as e:
            rows.append(ReplayRow(r.id, r.model, saved, None, False, str(e)))
            continue
        value = float(res.final_objective)
        same = (saved is None and not math.isfinite(value)) or (
            saved is not None and math.isfinite(value)
            and abs(value - saved) <= rtol * max(abs(value), abs(saved), 1e-300))
        rows.append(ReplayRow(r.id, r.model, saved, value, bool(same)))
        if out_dir is not None:
            export_result(res, Path(out_dir) / f"run{r.id}")
    return rows
