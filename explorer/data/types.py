"""What the loaders produce and the models consume: tables, networks, temporal networks.

All three carry the file they came from (``path``, ``sha256``), the ids the user sees (row ids or
node ids, kept as given, as strings) and optional ground-truth ``labels`` (strings, one per row or
node, ``None`` where unknown). Networks are stored sparse (CSR), never as dense N x N arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp


class DataError(ValueError):
    """Bad input, with where it is: ``file, line N, column 'c': problem``.

    The message is meant for a person: the CLI prints it as one line and exits with status 2,
    the window shows it in a dialog and keeps the previous data.
    """

    def __init__(
        self, problem: str, *, path=None, line: int | None = None, column: str | None = None
    ):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.problem


@dataclass
class TableData:
    """A numeric table: ``X`` is (N, D), finite; float64 and C-contiguous from CSV/TSV, and from
    Parquet/Feather/.npy (explorer.data.columnar) column-major and float32 when the file is
    float32. Models that need float64 C order convert (``np.ascontiguousarray``); K-means and the
    Gaussian mixture take either as it is. ``ids`` may be a lazy ``RowNumbers`` ("0" .. "N-1")."""

    kind: ClassVar[str] = "table"
    X: np.ndarray
    columns: list[str]
    ids: np.ndarray  # (N,) str: row ids as the user knows them
    labels: np.ndarray | None = None  # (N,) str ground truth, or None
    label_name: str | None = None
    path: str | None = None
    sha256: str | None = None
    standardized: bool = False
    # Column means and standard deviations when standardised, to map centres back.
    offset: np.ndarray | None = None
    scale: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    # The file's text columns (excluded, encoded 0/1, or the label): ground-truth candidates.
    text_columns: list[str] = field(default_factory=list)
    # Numeric feature columns that look like ground truth (whole numbers, few values, a name such
    # as digit/class/species, or the only non-0/1 column of a 0/1 table): fitted as features
    # unless the user picks them as labels (--labels COLUMN; the window's "use as ground truth").
    # A note says so. Empty when the feature columns were picked (--columns).
    label_candidates: list[str] = field(default_factory=list)
    # Numeric feature columns that look like dates or calendar years (``end_date``, ``year``),
    # with a note suggesting --columns without them. Empty when the columns were picked.
    calendar_columns: list[str] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return self.X.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape)

    def describe(self) -> str:
        return f"{self.X.shape[0]} rows x {self.X.shape[1]} columns"


class _Nodes:
    """What a network and a temporal network say the same way about their nodes."""

    node_ids: np.ndarray
    directed: bool

    @property
    def n_items(self) -> int:
        return len(self.node_ids)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def direction(self) -> str:
        """ "directed" or "undirected", for descriptions."""
        return "directed" if self.directed else "undirected"


@dataclass
class NetworkData(_Nodes):
    """A static network over N nodes.

    ``adjacency`` is an (N, N) CSR matrix of edge weights; for undirected networks it is symmetric
    (each edge stored in both directions). ``edges`` lists each edge once as index pairs
    (``u < v`` for undirected networks) with ``weights`` aligned to it. ``test_pairs`` is an optional
    (P, 3) int array ``u, v, y`` of held-out pairs that models must keep out of training.
    """

    kind: ClassVar[str] = "network"
    node_ids: np.ndarray  # (N,) str, as given in the file
    adjacency: sp.csr_matrix
    edges: np.ndarray  # (E, 2) int64
    weights: np.ndarray  # (E,) float64
    directed: bool = False
    labels: np.ndarray | None = None
    label_name: str | None = None
    test_pairs: np.ndarray | None = None
    path: str | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_nodes, self.n_edges)

    def describe(self) -> str:
        return f"{self.n_nodes} nodes, {self.n_edges} edges ({self.direction})"


@dataclass
class TemporalNetworkData(_Nodes):
    """T snapshots of count matrices over N nodes, stored as aligned non-zero arrays.

    ``t``, ``i``, ``j``, ``count`` have one entry per non-zero (snapshot, pair); ``t`` in [0, T),
    node indices into ``node_ids``. For undirected networks each pair is stored once with i < j.
    ``times`` holds the start of each snapshot's bin in the file's own time unit.
    """

    kind: ClassVar[str] = "temporal"
    node_ids: np.ndarray
    T: int
    t: np.ndarray  # (nnz,) int64
    i: np.ndarray  # (nnz,) int64
    j: np.ndarray  # (nnz,) int64
    count: np.ndarray  # (nnz,) float64, > 0
    times: np.ndarray  # (T,) bin starts
    directed: bool = False
    labels: np.ndarray | None = None
    label_name: str | None = None
    path: str | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    # (line, column, value) of the file's first fractional count, for models that need integers
    first_fractional_count: tuple[int, str, float] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_nodes, self.T, len(self.count))

    def describe(self) -> str:
        return (
            f"{self.n_nodes} nodes, {self.T} snapshots, {len(self.count)} non-zero counts "
            f"({self.direction})"
        )

    def aggregate(self) -> sp.csr_matrix:
        """Counts summed over time as an (N, N) CSR matrix (symmetric when undirected)."""
        return self._matrix(self.count, self.i, self.j)

    def snapshot(self, t: int) -> sp.csr_matrix:
        """Snapshot ``t``'s counts as an (N, N) CSR matrix (symmetric when undirected)."""
        sel = self.t == t
        return self._matrix(self.count[sel], self.i[sel], self.j[sel])

    def _matrix(self, count, i, j) -> sp.csr_matrix:
        n = self.n_nodes
        a = sp.coo_matrix((count, (i, j)), shape=(n, n)).tocsr()
        if not self.directed:
            a = a + a.T
        return a.tocsr()
