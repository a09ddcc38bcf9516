"""Temporal networks from ``t i j [count]`` rows, binned into T snapshots.

``load_temporal(path, directed=False, bin_width=None, labels=None)``:

- Rows ``t i j`` or ``t i j count`` (comma, tab, semicolon or whitespace separated), with or without
  a header row (``t,i,j[,count]``); ``#`` and ``%`` start comment lines. Columns are taken by
  position; with a header, a column named ``count`` (or ``weight``, ``w``, ``n``) holds the counts,
  else the fourth column does; other columns are ignored with a note. ``count`` defaults to 1.
- ``t`` holds numbers, or dates/times in ISO 8601 (``2009-10-01 09:00:00``), which are turned into
  seconds since 1970-01-01 UTC (so ``bin_width`` is then in seconds).
- Binning: snapshot ``k = floor((t - t_min) / bin_width)``, ``T = k_max + 1`` and
  ``times[k] = t_min + k * bin_width`` (the start of each bin, in the file's unit). With
  ``bin_width=None`` the width is 1, which needs integer ``t``: each integer ``t`` is its own
  snapshot ``t - t_min`` (a file whose ``t`` is already a window index ``0..T-1`` maps to itself;
  windows with no rows in between are kept as empty snapshots). Timestamps and fractional ``t``
  need an explicit ``bin_width``.
- The number of snapshots ``T`` is computed from ``t``'s range and the bin width before anything
  of size ``T`` is allocated; more than ``MAX_SNAPSHOTS`` (1,000,000) is refused with a message
  suggesting a bin width that gives about 1,000 snapshots (and more than 10,000 gives a note).
- Counts may be fractional here (weights); the first fractional count is kept with its line and
  column (``first_fractional_count``) so a model that needs whole numbers can say where it is.
- Rows falling on the same (snapshot, i, j) are summed; for undirected networks each pair is stored
  once with ``i < j`` by node index (``i j`` and ``j i`` are the same pair). Self-loops are dropped
  and zero counts skipped, with notes. Negative counts are an error.
- Node ids are the strings in the file, in order of first appearance (row by row, ``i`` before
  ``j``). ``labels`` works as for :func:`explorer.data.load_network` (a ``node,label`` file,
  ``FILE:COLUMN`` to pick a column).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.data.labels import read_node_labels
from explorer.data.network import node_pairs, read_rows, record_line, value_column
from explorer.data.table import DataError, is_number, read_source, shown, split_line
from explorer.data.types import TemporalNetworkData

TIME_HEADERS = {"t", "time", "timestamp", "date", "datetime"}
COUNT_HEADERS = ("count", "weight", "w", "n", "counts")
MANY_SNAPSHOTS = 10_000
# The most snapshots a file may be binned into. Checked from t's range and the bin width before
# anything of size T is allocated (t = 0 and 1e12 once asked for 7 TiB); the models keep arrays of
# T x N or T x K, so even this many is only for small networks.
MAX_SNAPSHOTS = 1_000_000
_KEY_LIMIT = 2**62  # (snapshot, i, j) packed in one int64 below this, else unique rows


def _is_time(s: str) -> bool:
    if is_number(s):
        return True
    try:
        pd.Timestamp(s.strip())
    except (ValueError, TypeError):
        return False
    return True


def _has_header(lines: list[str], sep) -> bool:
    first = [s.strip() for s in split_line(lines[0], sep)]
    if first and first[0].lower() in TIME_HEADERS:
        return True
    if first and not _is_time(first[0]) and len(lines) > 1:
        return _is_time(split_line(lines[1], sep)[0])
    return False


def _parse_times(src, sep, df, names, header) -> tuple[np.ndarray, bool]:
    """``t`` as float64 (seconds since the epoch for timestamps) and whether it held timestamps."""
    raw = df[0]

    def bad_t(k: int, problem: str) -> DataError:
        """The error naming row ``k``'s time, its line and column."""
        line = record_line(src, sep, k, header=header)
        return DataError(
            f"bad t {shown(raw.iloc[k])}: {problem}", path=src.path, line=line, column=names[0]
        )

    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(num)
    if ok.all():
        return num, False
    if ok.sum() * 2 >= len(num):
        k = int(np.flatnonzero(~ok)[0])
        raise bad_t(k, "not a finite number")
    try:
        stamps = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
        bad = stamps.isna().to_numpy()
    except (ValueError, OverflowError):  # e.g. OutOfBoundsDatetime ("-1" as year -1)
        bad = np.ones(len(raw), dtype=bool)
        for k, cell in enumerate(raw):
            try:
                pd.to_datetime(cell, format="ISO8601", utc=True)
            except (ValueError, OverflowError, TypeError):
                break
            bad[k] = False
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise bad_t(k, "not a number or an ISO 8601 date/time")
    try:
        secs = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    except (ValueError, OverflowError):  # a date outside pandas' nanosecond range
        years = stamps.dt.year.to_numpy()
        out = np.flatnonzero((years < 1678) | (years > 2261))
        k = int(out[0]) if len(out) else 0
        raise bad_t(k, "dates before 1678 or after 2261 are not supported") from None
    return np.asarray(secs, dtype=np.float64), True


def load_temporal(
    path, *, directed: bool = False, bin_width=None, labels=None
) -> TemporalNetworkData:
    """Load ``t i j [count]`` rows into snapshots (see the module docstring)."""
    src = read_source(path)
    notes: list[str] = []
    rows = read_rows(
        src,
        notes,
        has_header=_has_header,
        keys=3,
        what="rows",
        too_few="expected rows 't i j [count]', found {found} field(s)",
        value_headers=COUNT_HEADERS,
    )
    sep, header, df, names, ccol = rows
    if header and names[0].strip().lower() not in TIME_HEADERS:
        raise DataError(
            f"the first column is {names[0]!r}, not a time (t, time or timestamp): "
            "a temporal network needs rows 't i j [count]'",
            path=src.path,
            line=1,
        )

    t, stamps = _parse_times(src, sep, df, names, header)
    count = value_column(src, rows, what="count")
    fractional = None
    if ccol is not None:
        frac = count != np.floor(count)
        if frac.any():
            k = int(np.flatnonzero(frac)[0])
            fractional = (record_line(src, sep, k, header=header), names[ccol], float(count[k]))

    t_min = float(t.min())
    if bin_width is None:
        if stamps:
            raise DataError(
                "t holds dates/times: choose a bin width in seconds (e.g. 3600 for "
                "hourly snapshots)",
                path=src.path,
            )
        frac = t != np.floor(t)
        if frac.any():
            k = int(np.flatnonzero(frac)[0])
            raise DataError(
                f"t {shown(df[0].iloc[k])} is not an integer: choose a bin width",
                path=src.path,
                line=record_line(src, sep, k, header=header),
                column=names[0],
            )
        width = 1.0
    else:
        width = float(bin_width)
        if not np.isfinite(width) or width <= 0:
            raise DataError(
                f"bin width must be a positive number, got {bin_width!r}", path=src.path
            )
    span = (float(t.max()) - t_min) / width
    if not np.isfinite(span) or span >= MAX_SNAPSHOTS:
        n_text = f"{span:.3g}" if np.isfinite(span) else "too many"
        suggest = (float(t.max()) - t_min) / 1000.0
        raise DataError(
            f"t runs from {t_min:g} to {float(t.max()):g}: with bin width {width:g} "
            f"that is {n_text} snapshots, more than the {MAX_SNAPSHOTS:,} the explorer "
            f"takes; choose a larger bin width (--bin-width {suggest:.3g} gives about "
            "1,000)",
            path=src.path,
        )
    snap = np.floor((t - t_min) / width).astype(np.int64)
    T = int(snap.max()) + 1
    if T > MANY_SNAPSHOTS:
        notes.append(f"{T:,} snapshots; a larger bin width gives fewer")
    times = t_min + width * np.arange(T)
    if (
        not stamps
        and width == np.floor(width)
        and t_min == np.floor(t_min)
        and np.abs(times).max() < 2.0**53
    ):  # exact integers only
        times = times.astype(np.int64)

    node_ids, i, j = node_pairs(df[1].to_numpy(dtype=str), df[2].to_numpy(dtype=str))
    n = len(node_ids)

    loops = i == j
    if loops.any():
        notes.append(f"dropped {int(loops.sum())} self-loop row(s)")
    zero = count == 0
    if zero.any():
        notes.append(f"skipped {int(zero.sum())} row(s) with count 0")
    keep = ~(loops | zero)
    snap, i, j, count = snap[keep], i[keep], j[keep], count[keep]
    if len(count) == 0:
        raise DataError("no contacts left after dropping self-loops and zero counts", path=src.path)
    if not directed:
        i, j = np.minimum(i, j), np.maximum(i, j)
    if T * n * n < _KEY_LIMIT:
        key = (snap * n + i) * n + j
        uniq, inv = np.unique(key, return_inverse=True)
        t_out, rest = np.divmod(uniq, n * n)
        i_out, j_out = np.divmod(rest, n)
    else:  # (snapshot, i, j) as one int64 key would overflow: unique rows instead
        rows, inv = np.unique(np.column_stack([snap, i, j]), axis=0, return_inverse=True)
        uniq = rows
        t_out, i_out, j_out = rows[:, 0], rows[:, 1], rows[:, 2]
    if len(uniq) < len(snap):
        notes.append(
            f"summed {len(snap) - len(uniq):,} row(s) falling on the same (snapshot, i, j)"
        )
    count = np.bincount(inv.ravel(), weights=count, minlength=len(uniq))

    node_labels = label_name = None
    if labels is not None:
        node_labels, label_name = read_node_labels(labels, node_ids, notes)
    return TemporalNetworkData(
        node_ids=node_ids,
        T=T,
        t=t_out.astype(np.int64),
        i=i_out.astype(np.int64),
        j=j_out.astype(np.int64),
        count=count.astype(np.float64),
        times=times,
        directed=bool(directed),
        labels=node_labels,
        label_name=label_name,
        path=src.path,
        sha256=src.sha256,
        notes=notes,
        first_fractional_count=fractional,
    )
