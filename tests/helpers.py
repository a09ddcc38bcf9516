"""Small builders the tests share (imported as ``from helpers import table``; pytest puts tests/
on the path, as it does for fake_models)."""

from __future__ import annotations

import numpy as np

from explorer.data.types import TableData


def table(X, labels=None, *, columns=None, path=None) -> TableData:
    """An in-memory table as the loaders make one: ``X`` float64, C-contiguous and 2-D (a 1-D
    ``X`` is one column), columns ``c0, c1, ...`` unless given, row ids ``"0" .. "N-1"``."""
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    if columns is None:
        columns = [f"c{j}" for j in range(X.shape[1])]
    return TableData(X=X, columns=list(columns), ids=np.arange(len(X)).astype(str),
                     labels=labels, path=path)


def noise_table(n=60, d=2, seed=0, labels=True) -> TableData:
    """``n`` standard normal rows in ``d`` columns, labelled "0"/"1" by row parity, from a file
    called mem.csv (the runner and export tests' plumbing data)."""
    rng = np.random.default_rng(seed)
    lab = np.array([str(i % 2) for i in range(n)]) if labels else None
    return table(rng.normal(size=(n, d)), lab, path="mem.csv")


def run_to_end(qtbot, window, timeout=30_000):
    """Start the window's run and wait for run_finished; return the FitResult."""
    with qtbot.waitSignal(window.run_finished, timeout=timeout) as blocker:
        assert window.start_run()
    return blocker.args[0]
