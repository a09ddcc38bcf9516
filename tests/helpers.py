"""Small builders and checks the tests share (imported as ``from helpers import table``; pytest puts tests/
on the path, as it does for fake_models)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.data.types import DataError, TableData

ROOT = Path(__file__).resolve().parent.parent


def table(X, labels=None, *, columns=None, path=None) -> TableData:
    """An in-memory table as the loaders make one: ``X`` float64, C-contiguous and 2-D (a 1-D
    ``X`` is one column), columns ``c0, c1, ...`` unless given, row ids ``"0" .. "N-1"``."""
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    if columns is None:
        columns = [f"c{j}" for j in range(X.shape[1])]
    return TableData(
        X=X, columns=list(columns), ids=np.arange(len(X)).astype(str), labels=labels, path=path
    )


# Every model's first fit at defaults on the sample data: the arguments of `explorer fit MODEL`
# (data relative to the checkout), and the --labels that give it a ground truth (None: none).
FIRST_FITS = {
    "kmeans": ("sample_data/iris.csv --K 3", "species"),
    "kmedians": ("sample_data/iris.csv --K 3", "species"),
    "fuzzy-cmeans": ("sample_data/iris.csv --K 3", "species"),
    "gmm": ("sample_data/old_faithful.csv --K 2", None),
    "bayes-gmm": ("sample_data/old_faithful.csv --K 2 --standardize", None),
    "bernoulli-mixture": ("sample_data/digits_binary.csv --K 10 --labels digit", None),
    "exponential-mixture": ("sample_data/coal_intervals.csv --K 2 --columns interval_years", "era"),
    "ammsb": ("sample_data/karate/edges.csv --K 2", "sample_data/karate/nodes.csv:club"),
    "dynamic-exposure": (
        "sample_data/planted_contacts/counts.csv --K-aff 3 --K-exp 3 --n-init 1",
        "sample_data/planted_contacts/nodes.csv:group",
    ),
}


def first_fit_args(labelled: bool = False) -> dict[str, list[str]]:
    """Model id -> the arguments of its first fit (FIRST_FITS), with its ground truth if
    ``labelled``."""
    return {
        model: args.split() + (["--labels", truth] if labelled and truth else [])
        for model, (args, truth) in FIRST_FITS.items()
    }


def checkout_env(**extra) -> dict:
    """This process's environment, and ``extra``, with this checkout first on PYTHONPATH: the
    explorer a child process imports is the one under test."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


def run_python(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    """``python ARGS`` with this interpreter in a child process, its output captured as text;
    ``kw`` goes to subprocess.run (cwd, env, preexec_fn, ...)."""
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw
    )


def run_cli(*args, **kw) -> subprocess.CompletedProcess:
    """``explorer ARGS`` (``python -m explorer.cli``) as a user runs it: see run_python."""
    return run_python("-m", "explorer.cli", *args, **kw)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc: each task's children), depth first."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            kids = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for k in map(int, kids):
            found += [k, *descendants(k)]
    return found


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (state first); [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait for a PID 1 that never reaps it)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def cpu_ticks(pid: int) -> int:
    """CPU time ``pid`` has used (user + system, in clock ticks); 0 when it is gone."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def drain(gen):
    """Run a generator to its end: (what it yielded, what it returned)."""
    yielded = []
    while True:
        try:
            yielded.append(next(gen))
        except StopIteration as stop:
            return yielded, stop.value


def noise_table(n=60, d=2, seed=0, labels=True) -> TableData:
    """``n`` standard normal rows in ``d`` columns, labelled "0"/"1" by row parity, from a file
    called mem.csv (the runner and export tests' plumbing data)."""
    rng = np.random.default_rng(seed)
    lab = np.array([str(i % 2) for i in range(n)]) if labels else None
    return table(rng.normal(size=(n, d)), lab, path="mem.csv")


def sweep_spec(model_id, path, kind, Ks, seeds=(0,), options=None, **kw):
    """The sweep of ``model_id`` over ``Ks`` x ``seeds`` on the file ``path`` of ``kind``
    (``options`` its data options; ``kw`` the SweepSpec's other fields)."""
    from explorer import sweep

    return sweep.SweepSpec(
        model_id=model_id,
        data_path=str(path),
        data_kind=kind,
        data_options=options or {},
        Ks=tuple(Ks),
        seeds=tuple(seeds),
        **kw,
    )


def noise_fit(model=None, **kw):
    """``runner.fit`` of the runner's plumbing model (fake_models.ShrinkModel unless given: K=2,
    rate 0.01, tol 0, unless ``kw`` says otherwise) on noise_table()."""
    from fake_models import ShrinkModel

    from explorer import runner

    return runner.fit(model or ShrinkModel, noise_table(), **{"K": 2, "rate": 0.01, "tol": 0, **kw})


def run_to_end(qtbot, window, timeout=30_000):
    """Start the window's run and wait for run_finished; return the FitResult."""
    with qtbot.waitSignal(window.run_finished, timeout=timeout) as blocker:
        assert window.start_run()
    return blocker.args[0]


def export_to(qtbot, window, out_dir=None, timeout=60_000) -> dict:
    """Export the window's result as a user does (the export runs on the window's worker) and
    wait for it: the paths written."""
    got = []
    window.exported.connect(got.append)
    try:
        assert window.export_results(out_dir) is not None
        # an export that fails says so in the log (and a message): fail at once, not at timeout
        qtbot.waitUntil(
            lambda: bool(got) or "error: " in window.log_view.toPlainText(), timeout=timeout
        )
    finally:
        window.exported.disconnect(got.append)
    assert got, window.log_view.toPlainText()[-600:]
    return got[0]


def write(tmp_path, name, content):
    """``content`` written to ``tmp_path / name`` (UTF-8); returns the path."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def load_error(load, path, **kw):
    """The DataError that ``load(path, **kw)`` raises; the test fails if it raises none."""
    with pytest.raises(DataError) as info:
        load(path, **kw)
    return info.value


def fitted(model, X, n_steps, seed=0):
    """``model`` initialised on ``table(X)`` with ``seed``, then stepped ``n_steps`` times."""
    model.initialize(table(X), seed)
    for _ in range(n_steps):
        model.step()
    return model


def assert_never_decreases(trace, rtol=1e-9):
    """An objective trace of EM or CAVI updates: finite, and no step lowers it by more than
    ``rtol`` relative (summation round-off over N terms only)."""
    trace = np.asarray(trace)
    assert np.all(np.isfinite(trace))
    d = np.diff(trace)
    assert np.all(d >= -rtol * np.abs(trace[1:])), d.min()


def assert_density_1d(snap, weights, pdf):
    """A one-column mixture's ``density_1d`` snapshot against an independent evaluation: component
    k on the grid is ``weights[k] * pdf(k, grid)`` and the total is their sum (1e-12 relative);
    returns the grid for the caller's own checks of its range."""
    dens = snap["density_1d"]
    grid = dens["x"]
    expected = np.stack([weights[k] * pdf(k, grid) for k in range(len(weights))])
    np.testing.assert_allclose(dens["components"], expected, rtol=1e-12)
    np.testing.assert_allclose(dens["total"], expected.sum(axis=0), rtol=1e-12)
    return grid


def assert_centre_steps(model, X, seed, n_steps, dist):
    """Step a centre-based model (initialised on ``table(X)`` with ``seed``) ``n_steps`` times.
    After each step, the value it returns is the sum over rows of ``dist(X, centres)`` (an (N, K)
    matrix) at the row's label, recomputed here from ``parameters()`` (another summation order:
    1e-12 relative), and every label is a nearest centre (ties: the same distance). Over the run
    the value never increases beyond rounding (1e-12 relative). Returns the values."""
    model.initialize(table(X), seed)
    rows = np.arange(len(X))
    trace = []
    for _ in range(n_steps):
        value = model.step()
        trace.append(value)
        p = model.parameters()
        d = dist(X, p["centers"])
        np.testing.assert_allclose(value, d[rows, p["labels"]].sum(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d[rows, p["labels"]], d.min(1), rtol=1e-12, atol=1e-12)
    diffs = np.diff(trace)
    assert np.all(diffs <= 1e-12 * np.abs(trace[:-1]) + 1e-12), diffs.max()
    return trace


def sklearn_gmm_after(X, w0, mu0, P0, n_iter):
    """scikit-learn's GaussianMixture (full covariances, reg_covar 1e-6) fitted to X for
    ``n_iter`` EM iterations from the weights, means and precisions given: the GMM tests'
    reference, and bench/bench_peers.py's peer."""
    import warnings

    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges": ConvergenceWarning
        return GaussianMixture(
            len(w0),
            covariance_type="full",
            weights_init=w0,
            means_init=mu0,
            precisions_init=P0,
            max_iter=n_iter,
            tol=0,
            reg_covar=1e-6,
            init_params="random",
            random_state=0,
        ).fit(X)
