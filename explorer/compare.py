"""Run against run: how two partitions of the same items agree (Qt-free; the Runs view draws it).

``agreement(a, b)`` gives ARI and NMI between the two label vectors and their contingency table
with run b's clusters reordered to match run a's (the Hungarian assignment on the counts), so a
cluster that split shows as one row spread over two columns and a merge as two rows in one column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from explorer import metrics


@dataclass
class Agreement:
    ari: float
    nmi: float
    table: np.ndarray  # (Ka, Kb) counts; columns in matched order
    rows: list[str]  # run a's cluster labels
    columns: list[str]  # run b's cluster labels, matched to the rows first
    matched: int  # items on the matched diagonal
    splits: list[str]  # readable lines: "a:2 split into b:1 (40) and b:4 (35)"


def agreement(labels_a, labels_b, min_share: float = 0.2) -> Agreement:
    """Agreement of two labelings of the same items (lengths must match)."""
    a = np.asarray(labels_a)
    b = np.asarray(labels_b)
    if a.shape != b.shape:
        raise ValueError(f"the runs label different items ({len(a)} and {len(b)})")
    table, ua, ub = metrics.contingency(a, b)
    r, c = linear_sum_assignment(-table)
    order = list(c[np.argsort(r)])
    order += [j for j in range(table.shape[1]) if j not in order]
    table = table[:, order]
    ub = ub[order]
    matched = int(sum(table[i, i] for i in range(min(table.shape))))
    lines = []
    for i in range(table.shape[0]):  # a-cluster spread over several b
        big = [j for j in range(table.shape[1]) if table[i, j] >= min_share * table[i].sum()]
        if len(big) > 1:
            parts = " and ".join(f"b:{ub[j]} ({table[i, j]})" for j in big)
            lines.append(f"a:{ua[i]} split into {parts}")
    for j in range(table.shape[1]):  # several a-clusters in one b
        big = [i for i in range(table.shape[0]) if table[i, j] >= min_share * table[:, j].sum()]
        if len(big) > 1:
            parts = " and ".join(f"a:{ua[i]} ({table[i, j]})" for i in big)
            lines.append(f"b:{ub[j]} merges {parts}")
    return Agreement(
        ari=metrics.ari(a, b),
        nmi=metrics.nmi(a, b),
        table=table,
        rows=[str(x) for x in ua],
        columns=[str(x) for x in ub],
        matched=matched,
        splits=lines,
    )
