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
