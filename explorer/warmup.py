"""``explorer warmup``: compile every registered model's numba kernels once, into numba's on-disk
cache, so that no later fit waits for compilation.

Every kernel is ``@njit(cache=True)``: the first call of a kernel with new argument types compiles
it (seconds per kernel) and writes the machine code next to the source (``__pycache__/*.nbi``,
``*.nbc``); later processes load it in milliseconds. Warm-up fits each model briefly on tiny
synthetic data of its kind, in every variant whose code path differs (each choice-valued
hyperparameter, directed and undirected networks, test pairs, the parallel kernels meant for large
tables, float32 tables (K-means, Gaussian mixture), the float32 pair sums of large temporal
networks), then exports the last fit (the number-formatting kernels of explorer.textformat), in
parallel worker processes (at most one per core, 2 by default), printing one progress line per
model on stderr.

numba saves a kernel's cache index by read-modify-write: two workers saving signatures of one
kernel at once could lose one, or give two signatures the same data file (the index would then
hand one signature the other's machine code). The workers therefore save under one lock
(:func:`_lock_cache_saves`), and the parent checks afterwards that every signature a worker
compiled is in the index (:func:`_missing_from_cache`); only a model with a missing one is warmed
again.

The cache is keyed by the source files' timestamps, so an upgrade invalidates it;
:func:`kernels_cached` tells the window whether a model's kernels are in the cache.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

# One variant: a name, a function building (data, hyperparameter values), and module constants to
# lower for the duration of the fit (so that tiny data takes the path meant for large data).
Variant = tuple[str, Callable[[], tuple[object, dict]], dict[str, object]]

MAX_ITER = 3


# ---- tiny data of each kind, written to files and read back by the loaders (so the kernels see
# exactly the array types, layouts and flags that users' files produce) --------------------------

_TMP: list[Path] = []


def _tmpdir() -> Path:
    if not _TMP:
        _TMP.append(Path(tempfile.mkdtemp(prefix="explorer-warmup-")))
    return _TMP[0]


def _table(n: int = 120, D: int = 3, K: int = 3, seed: int = 0, transform=None, name="t.csv"):
    from explorer.data import load
    from explorer.data.synthetic import gaussian_blobs

    X = gaussian_blobs(n, K=K, D=D, seed=seed).X
    if transform is not None:
        X = transform(X)
    path = _tmpdir() / name
    np.savetxt(path, X, delimiter=",", header=",".join(f"c{j}" for j in range(D)), comments="")
    return load(path, kind="table")


def _float32_table(n: int = 120, D: int = 3, K: int = 3, seed: int = 0):
    """A float32 Parquet table read back by the columnar loader (float32, column-major: the
    kernels' float32 specialisations)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from explorer.data import load
    from explorer.data.synthetic import gaussian_blobs

    X = gaussian_blobs(n, K=K, D=D, seed=seed).X.astype(np.float32)
    path = _tmpdir() / "t32.parquet"
    pq.write_table(pa.table({f"c{j}": X[:, j] for j in range(D)}), path)
    return load(path, kind="table")


def _positive_table():
    return _table(transform=lambda X: np.abs(X) + 0.1, name="positive.csv")


def _binary_table():
    return _table(D=8, transform=lambda X: (X > 0).astype(np.float64), name="binary.csv")


def _count_table():
    """Non-negative whole numbers: Poisson counts around three levels."""

    def counts(X):
        rng = np.random.default_rng(0)
        return rng.poisson(np.exp(np.clip(X, -3.0, 3.0))).astype(np.float64)

    return _table(transform=counts, name="counts.csv")


# The tables a model's ``table_values`` asks for (see explorer.models.base.Model).
_TABLES = {
    "real": _table,
    "non-negative": _positive_table,
    "binary": _binary_table,
    "counts": _count_table,
}


def _network(directed: bool = False, test_pairs: bool = False):
    from explorer.data import load
    from explorer.data.synthetic import planted_partition, write_edge_list

    d = planted_partition(60, K=3, p_in=0.3, p_out=0.02, seed=1, directed=directed)
    path = write_edge_list(d, _tmpdir() / f"edges{'_d' if directed else ''}.csv")
    options = {"directed": True} if directed else {}
    if test_pairs:
        rng = np.random.default_rng(0)
        pos = d.edges[rng.choice(len(d.edges), 4, replace=False)]
        ids = d.node_ids
        rows = [f"{ids[u]} {ids[v]} 1" for u, v in pos]
        rows += [f"{ids[u]} {ids[v]} 0" for u, v in ((0, 59), (1, 58), (2, 57), (3, 56))]
        pairs = _tmpdir() / "test_pairs.txt"
        pairs.write_text("\n".join(rows) + "\n")
        options["test_pairs"] = str(pairs)
    return load(path, kind="network", **options)


def _temporal(directed: bool = False, N: int = 40, T: int = 6):
    from explorer.data import load
    from explorer.data.synthetic import sample_network

    rng = np.random.default_rng(1)
    K = 2
    g = np.arange(N) % K
    u = np.full((N, K), 0.1)
    u[np.arange(N), g] = 0.9
    mu = np.full((N, K), 0.1)
    mu[np.arange(N), rng.permutation(N) % K] = 0.9
    w = 3.0 * np.eye(K) + 0.1
    t, i, j, c = sample_network(
        u, w, mu, T, v=u[:, ::-1].copy() if directed else None, directed=directed, rng=rng
    )
    path = _tmpdir() / f"contacts{'_d' if directed else ''}.csv"
    np.savetxt(
        path,
        np.column_stack([t, i, j, c]).astype(np.int64),
        fmt="%d",
        delimiter=",",
        header="t,i,j,count",
        comments="",
    )
    return load(path, kind="temporal", **({"directed": True} if directed else {}))


# ---- the variants of each model --------------------------------------------------------------


def _choice_variants(cls, base: Callable[[], object], extra: dict) -> Iterator[Variant]:
    """Defaults, then each other value of every choice-valued or boolean hyperparameter."""
    yield "defaults", lambda: (base(), dict(extra)), {}
    for spec in cls.param_specs():
        if spec.choices:
            others = [c for c in spec.choices if c != spec.default]
        elif spec.type is bool:
            others = [not spec.default]
        else:
            continue
        for value in others:
            yield (
                f"{spec.name}={value}",
                lambda v=value, s=spec.name: (base(), {**extra, s: v}),
                {},
            )


def variants(model_id: str) -> list[Variant]:
    from explorer.models import get_model

    cls = get_model(model_id)
    kind = cls.data_kinds[0]
    if kind == "network":
        out = list(_choice_variants(cls, _network, {"K": 3}))
        out.append(("K=0 (findk)", lambda: (_network(), {"K": 0}), {}))
        out.append(("directed", lambda: (_network(directed=True), {"K": 3}), {}))
        out.append(("test pairs", lambda: (_network(test_pairs=True), {"K": 3}), {}))
        # large-network paths: the ELBO on a sample of pairs, the sampled initial beta pass,
        # findk drawn once, Louvain's queued local moving
        out.append(
            (
                "large-network paths",
                lambda: (_network(), {"K": 3}),
                {
                    "ELBO_EXACT_MAX": 10,
                    "ELBO_SAMPLE": 50,
                    "BETA_INIT_NODES": 20,
                    "SMALL_GRAPH_LINKS": 0,
                    "QUEUED_MOVE_MIN_ENTRIES": 0,
                },
            )
        )
        return out
    if kind == "temporal":
        hp = {"K_aff": 2, "K_exp": 2, "n_init": 1}
        out = list(_choice_variants(cls, _temporal, hp))
        out.append(("directed", lambda: (_temporal(directed=True), hp), {}))
        # large networks keep their pair sums in float32 and score a sample of the pairs
        out.append(
            (
                "large-network paths",
                lambda: (_temporal(), hp),
                {
                    "PAIR_FLOAT64_MAX_NODES": 10,
                    "LIVE_AUC_MAX_PAIRS": 50,
                    "FULL_AUC_MAX_CELLS": 100,
                    "FULL_AUC_MAX_PAIRS": 100,
                },
            )
        )
        return out
    base = {"bernoulli-mixture": _binary_table, "exponential-mixture": _positive_table}.get(
        model_id
    )
    if base is None:  # a model from elsewhere says what values its table holds
        base = _TABLES.get(getattr(cls, "table_values", "real"), _table)
    declared = {spec.name for spec in cls.param_specs()}
    out = list(_choice_variants(cls, base, {"K": 2} if "K" in declared else {}))
    if model_id == "bernoulli-mixture":
        out = [v for v in out if not v[0].startswith("binarize")]
        out.append(
            ("binarize", lambda: (_table(), {"K": 2, "binarize": True, "threshold": 0.0}), {})
        )
    if model_id == "kmeans":  # the parallel kernel large tables use
        out.append(
            ("parallel (large tables)", lambda: (_table(), {"K": 2}), {"_PARALLEL_MIN_ROWS": 0})
        )
        # k-means++ with O(N) scratch (from 1 M rows), float32 tables (serial and parallel)
        out.append(
            (
                "lean seeding (large tables)",
                lambda: (_table(), {"K": 2}),
                {"_LEAN_SEEDING_MIN_ROWS": 0},
            )
        )
        out.append(("float32", lambda: (_float32_table(), {"K": 2}), {}))
        out.append(
            ("float32 parallel", lambda: (_float32_table(), {"K": 2}), {"_PARALLEL_MIN_ROWS": 0})
        )
    if model_id == "gmm":  # float32 tables: the E-pass on a float32 transpose
        out.append(("float32", lambda: (_float32_table(), {"K": 2}), {}))
    return out


def _after_fit(model_id: str, result) -> None:
    """Kernels a short fit may not reach: gmm's exact covariance pass and its reduction (run only
    when a mean moved far), for the data type the fit used."""
    if model_id == "gmm":
        from explorer.models import gmm

        m = result.model
        K, D = m.means.shape
        redo = np.ones(K, dtype=np.bool_)
        s2 = np.zeros_like(m._s2)
        gmm._cov_pass(m._XT, m.resp, m.means, redo, s2, np.zeros((m._s2.shape[0], K, D)), 1)
        gmm._finish_cov(s2, m._nk_tot, redo, m.hp.reg_covar, m.covariances.copy())


def _export(result) -> None:
    """The export's formatting kernels (explorer.textformat): assignments.csv, and for networks
    the GraphML nodes and edges with their layout (explorer.layout's kernels)."""

    from explorer.export import export_result

    layout = None
    if result.data.kind in ("network", "temporal"):
        # The Network tab's layout (explorer.layout) starts as soon as a network opens: its
        # kernels are warmed with the network models, and the GraphML's x/y with them.
        from explorer.layout import LayoutSettings, compute_layout

        layout = compute_layout(result.data, LayoutSettings(seed=0), use_cache=False)
    with tempfile.TemporaryDirectory(dir=_tmpdir()) as d:
        export_result(result, Path(d) / "set", layout=layout)


@contextmanager
def _patched(module: ModuleType, values: dict[str, object]):
    """Set module constants that exist, in the model's module and in the kernel modules it imports
    (``explorer.models._*``, e.g. the seeding threshold of ``_centre_kernels``; a renamed one is
    skipped), restore them afterwards."""
    modules = [module] + [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("explorer.models._") and m is not None
    ]
    old = [(m, k, getattr(m, k)) for m in modules for k in values if hasattr(m, k)]
    try:
        for m, k, _ in old:
            setattr(m, k, values[k])
        yield
    finally:
        for m, k, v in old:
            setattr(m, k, v)


def warm_model(model_id: str) -> tuple[str, float, int, list[str]]:
    """Fit every variant of one model briefly; returns (id, seconds, compiled signatures, problems).

    A variant that fails is reported, not raised: warm-up must never stop set-up."""
    import sys as _sys

    from explorer import runner
    from explorer.models import get_model

    t0 = time.perf_counter()
    cls = get_model(model_id)
    module = _sys.modules[cls.__module__]
    before = compiled_count([module])
    problems = []
    result = None
    for name, build, patches in variants(model_id):
        try:
            data, hp = build()
            with _patched(module, patches):
                result = runner.fit(
                    cls,
                    data,
                    seed=0,
                    max_iter=MAX_ITER,
                    snapshots=True,
                    callback=lambda p: None,
                    **hp,
                )
            _after_fit(model_id, result)
        except Exception as e:  # noqa: BLE001 - reported, set-up goes on
            problems.append(f"{name}: {type(e).__name__}: {e}")
    if result is not None:
        try:
            _export(result)
        except Exception as e:  # noqa: BLE001 - reported, set-up goes on
            problems.append(f"export: {type(e).__name__}: {e}")
    if _TMP:
        shutil.rmtree(_TMP.pop(), ignore_errors=True)
    return model_id, time.perf_counter() - t0, compiled_count([module]) - before, problems


# ---- several workers, one cache --------------------------------------------------------------


def _lock_cache_saves(lock_path: str) -> bool:
    """Make numba's cache saves in this process hold an exclusive lock on ``lock_path`` (the same
    file for every worker). A save reads the kernel's index, adds the signature (choosing the first
    free data file name) and writes the index back: two unlocked saves of one kernel can lose an
    entry or give two signatures one data file. False when that cannot be done (no ``fcntl``,
    numba's internals changed); the parent's check then finds what went missing."""
    try:
        import fcntl

        from numba.core.caching import IndexDataCacheFile
    except ImportError:
        return False
    save = getattr(IndexDataCacheFile, "save", None)
    if save is None:
        return False
    save = getattr(save, "_unlocked", save)

    def locked_save(self, key, data):
        with open(lock_path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                return save(self, key, data)
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    locked_save._unlocked = save
    IndexDataCacheFile.save = locked_save
    return True


def _worker_init(lock_path: str) -> None:
    _lock_cache_saves(lock_path)


def _compiled_signatures() -> set[tuple[str, str, str]]:
    """(module, qualified name, argument types) of every signature this process compiled (and so
    saved) for an on-disk cached kernel of explorer."""
    out = set()
    for d in _dispatchers():
        if getattr(getattr(d, "_cache", None), "_cache_file", None) is None:  # not cached
            continue
        for sig, n in d.stats.cache_misses.items():
            if n:
                out.add((d.py_func.__module__, d.py_func.__qualname__, str(tuple(sig))))
    return out


def _warm_in_worker(model_id: str):
    """:func:`warm_model` in a worker, with the signatures it compiled (for the parent's check)."""
    before = _compiled_signatures()
    result = warm_model(model_id)
    return result + (_compiled_signatures() - before,)


def _missing_from_cache(compiled: set[tuple[str, str, str]]) -> set | None:
    """The entries of ``compiled`` (see :func:`_compiled_signatures`) that numba's cache index does
    not hold; None when that cannot be told (numba internals changed)."""
    import importlib

    missing = set()
    try:
        indexes = {}
        for entry in compiled:
            module, qualname, sig = entry
            if (module, qualname) not in indexes:
                obj = importlib.import_module(module)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
                indexes[module, qualname] = {
                    str(key[0]) for key in obj._cache._cache_file._load_index()
                }
            if sig not in indexes[module, qualname]:
                missing.add(entry)
    except Exception:  # noqa: BLE001 - numba internals or a nested kernel: "don't know"
        return None
    return missing


# ---- what numba did --------------------------------------------------------------------------


def _dispatchers(modules: list[ModuleType] | None = None):
    """Every numba dispatcher defined in explorer's model modules (or in ``modules``)."""
    from numba.core.registry import CPUDispatcher

    if modules is None:
        modules = [
            m
            for name, m in list(sys.modules.items())
            if (
                name.startswith("explorer.models")
                or name in ("explorer.textformat", "explorer.layout")
            )
            and m is not None
        ]
    seen = set()
    for m in modules:
        for obj in list(vars(m).values()):
            if isinstance(obj, CPUDispatcher) and id(obj) not in seen:
                seen.add(id(obj))
                yield obj


def compiled_count(extra: tuple | list = ()) -> int:
    """Signatures this process compiled (not loaded from the cache), in explorer's modules and
    ``extra`` (a model's own module when it comes from outside the package)."""
    modules = [
        m
        for name, m in list(sys.modules.items())
        if (
            name.startswith("explorer.models") or name in ("explorer.textformat", "explorer.layout")
        )
        and m is not None
    ] + list(extra)
    return sum(sum(d.stats.cache_misses.values()) for d in _dispatchers(modules))


def kernels_cached(cls) -> bool | None:
    """Whether numba's cache holds the kernels of model ``cls`` for the current source files:
    every kernel in the namespace (defined there or imported) of its module and of its
    ``kernel_modules`` has a valid, non-empty cache index. None when that cannot be told (numba
    internals changed). Cheap: reads a few small index files."""
    try:
        modules = [sys.modules[cls.__module__]]
        modules += [importlib.import_module(name) for name in cls.kernel_modules]
        for d in _dispatchers(modules):
            if d.signatures:  # compiled in this process already: nothing to wait for
                continue
            if d.targetoptions.get("inline") == "always":  # inlined into its callers only
                continue
            cache = getattr(d, "_cache", None)
            impl = getattr(cache, "_cache_file", None)
            if impl is None:
                return None
            if not impl._load_index():  # {} when missing or stale (source changed)
                return False
        return True
    except Exception:  # noqa: BLE001 - numba internals: answer "don't know"
        return None


# ---- the command -----------------------------------------------------------------------------


def _bar(done: int, total: int, width: int = 20) -> str:
    full = round(width * done / max(total, 1))
    return "[" + "#" * full + "-" * (width - full) + f"] {done}/{total}"


def run(
    jobs: int | None = None, models: list[str] | None = None, quiet: bool = False, stream=None
) -> int:
    """Warm every model (or ``models``) in ``jobs`` processes; returns an exit status."""
    from explorer.models import registry

    stream = stream or sys.stderr

    def say(text: str) -> None:
        if not quiet:
            print(text, file=stream, flush=True)

    ids = list(models) if models else list(registry())
    unknown = [m for m in ids if m not in registry()]
    if unknown:
        print(
            f"explorer: error: unknown model(s) {', '.join(unknown)}; known models: "
            f"{', '.join(registry())}",
            file=sys.stderr,
        )
        return 2
    # Heaviest first (CPU seconds measured by bench/bench_warmup.py --profile) so that the workers
    # finish together: gmm (its E-pass for float64 and float32 tables) takes about as long as
    # ammsb and dynamic-exposure together, which share the layout and GraphML kernels. kmeans
    # comes after them, so that gmm's worker has saved the float32 k-means++ and Lloyd kernels
    # both use by the time it starts (no kernel compiled twice at once).
    weight = {
        "gmm": 0,
        "ammsb": 1,
        "dynamic-exposure": 2,
        "kmeans": 3,
        "bayes-gmm": 4,
        "kmedians": 5,
    }
    ids.sort(key=lambda m: weight.get(m, 9))
    jobs = max(1, min(jobs or min(2, os.cpu_count() or 1), len(ids)))
    t0 = time.perf_counter()
    say(
        f"warmup: compiling the numba kernels of {len(ids)} models in {jobs} "
        f"process{'es' if jobs > 1 else ''} (once; later runs load them from the cache)"
    )
    failed = []
    done = 0
    compiled_by = {}
    if jobs == 1:
        results = (warm_model(m) + (set(),) for m in ids)
    else:
        import multiprocessing as mp

        lock = tempfile.NamedTemporaryFile(prefix="explorer-warmup-", suffix=".lock", delete=False)
        lock.close()
        pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(lock.name,),
        )
        futures = [pool.submit(_warm_in_worker, m) for m in ids]
        results = (f.result() for f in as_completed(futures))
    for model_id, seconds, compiled, problems, signatures in results:
        done += 1
        compiled_by[model_id] = signatures
        note = (
            f"{compiled} kernel{'s' if compiled != 1 else ''} compiled"
            if compiled
            else "all from the cache"
        )
        say(f"warmup: {_bar(done, len(ids))} {model_id}: {seconds:.1f} s ({note})")
        for p in problems:
            say(f"warmup:   {model_id}: variant failed: {p}")
        if problems:
            failed.append(model_id)
    if jobs > 1:
        pool.shutdown()
        os.unlink(lock.name)
        # Every signature a worker compiled must be in the cache index; a model with one missing
        # (or all of them, when that cannot be told) is warmed again in one process.
        t1 = time.perf_counter()
        missing = _missing_from_cache(set().union(*compiled_by.values()))
        again = ids if missing is None else [m for m in ids if compiled_by[m] & missing]
        recompiled = 0
        if again:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
                recompiled = pool.submit(_check_all, again).result()
        n_sigs = len(set().union(*compiled_by.values()))
        say(
            f"warmup: check: {n_sigs} compiled signatures in the cache"
            + (f"; {len(again)} model(s) warmed again, {recompiled} recompiled" if again else "")
            + f" ({time.perf_counter() - t1:.1f} s)"
        )
    say(f"warmup: done in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


def _check_all(ids: list[str]) -> int:
    """Warm every model in this one process; returns how many signatures had to be compiled."""
    for m in ids:
        warm_model(m)
    return compiled_count()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="explorer warmup",
        description="Compile every model's numba kernels into the on-disk cache (run once after "
        "installing; `make install` does it).",
    )
    p.add_argument("models", nargs="*", help="model ids (default: every registered model)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes (default: 2, or 1 on a single core)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    ns = p.parse_args(argv)
    return run(ns.jobs, ns.models, ns.quiet)
