"""Export a fit as one set: ``result.json``, ``parameters.npz``, ``assignments.csv``
(+ ``communities.graphml`` for networks), and read a set back (:func:`load_result`).

One code path for the CLI, the Python API and the window.

**The set is written whole or not at all.** The files are written into a new hidden folder beside
the target (``.NAME.explorer-new-PID-RANDOM``), ``result.json`` last; the folder is then swapped in
place of the target in one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, so a
crash between them leaves the target absent, never mixed) and the previous set is deleted. A reader
therefore sees the old complete set, the new complete set, or (only on a crash between the two
renames where the exchange is not available) no folder. Hidden folders left by an export that was
killed are removed by the next export beside them (their process id no longer runs). A hidden
name never exceeds the file system's limit (255 bytes): a long target name is shortened to its
first 150 bytes and a hash of the whole name.

``out`` may be a symbolic link to a folder: the link is followed (the set is written, and swapped
in, where it points; the link stays as it was). A link to nothing is refused before any work.

Because the target folder is replaced as a whole, it must be new, empty, or hold an earlier
exported set (its four file names, plus temporaries of older versions): a folder holding anything
else is refused with a message, nothing written, so an export can never delete a user's file. A
re-run into the same folder therefore never leaves a stale file of the earlier run (say a
``communities.graphml`` beside a k-means result).

Files are created with the ordinary permissions (``0666`` less the umask: ``0644`` by default) and
the folder with ``0777`` less the umask; ``result.json`` is an interface other programs and users
read. Ctrl-C during an export removes the half-written hidden folder and leaves the target as it
was; while the swap itself runs (two system calls) Ctrl-C is held back until it has finished.

``result.json`` keys are an interface other programs read::

    {"model": "kmeans", "hyperparameters": {...}, "data": {"path", "sha256", "kind", "shape"},
     "seed": 0, "best_seed": 0, "iterations": 12, "converged": true, "cancelled": false,
     "stop_reason": "converged", "best_iteration": 12,
     "objective": {"kind": "distortion", "trace": [...], "final": ...},
     "metrics": {"nmi": ..., "ari": ...}, "timing": {"total_s": ..., "per_iteration_s": ...},
     "restarts": [...], "max_iter": ..., "tol": ..., "notes": [...], "version": "0.1.0",
     "files": {"parameters.npz": {"sha256": ..., "bytes": ...}, "assignments.csv": {...}}}

``files`` is the manifest of the set: the other files with their SHA-256 and size, so a reader can
check that the files belong together (:func:`load_result` does). ``stop_reason`` says why the run
ended ("converged", "stopped: ...", "iteration limit", "cancelled", "non-finite objective ...",
"degenerate: ...") and ``best_iteration`` which iteration's state was returned;
``objective.final`` is that state's objective, ``objective.trace`` the whole history. Non-finite
numbers are written as ``null`` (JSON has no NaN). ``per_iteration_s`` is the median wall time of
one iteration, so a first iteration that compiles kernels does not count.

``assignments.csv``: ``id,label`` (row or node id as given, hard label), then ``p0,p1,...`` where
the model has memberships, and ``communities`` (overlapping memberships above the model's
threshold, separated by ``;``) where the model offers them.

The API's export is :func:`export_result` (``explorer.export_result(result, "out/")``); this module
is a plain module.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer import textformat
from explorer._version import __version__
from explorer.data.types import DataError

RESULT = "result.json"
PARAMETERS = "parameters.npz"
ASSIGNMENTS = "assignments.csv"
GRAPHML = "communities.graphml"
ASSIGNMENTS_DIR = "assignments"  # a distributed fit's assignments: Parquet parts
SET_FILES = (RESULT, PARAMETERS, ASSIGNMENTS, GRAPHML)
_KEYS = {RESULT: "result", PARAMETERS: "parameters", ASSIGNMENTS: "assignments", GRAPHML: "graphml"}
# What an earlier export may have left in a set folder: the per-file temporaries of versions
# before 0.1 (``.parameters.npz.abc123.tmp``) and the CLI's write probe.
_OURS = re.compile(
    r"^\.(result\.json|parameters\.npz|assignments\.csv|communities\.graphml)"
    r"\..+\.tmp$|^\.explorer-write-test$"
)
_HIDDEN = re.compile(r"^\.(?P<name>.+)\.explorer-(new|old)-(?P<pid>\d+)-[0-9a-f]+$")
# A temporary file of write_file_atomically: ``.NAME.PID-RANDOM.tmp``.
_TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]+\.tmp$")
NAME_MAX = 255  # bytes in one path component (Linux, macOS, Windows: 255)
_STEM_MAX = 200  # the rest of a hidden name: at most 38 bytes


def hidden_stem(name: str) -> str:
    """``name`` as it appears inside the hidden temporary names beside it: itself, or when long
    its first 150 bytes and a hash of the whole, so the hidden name stays within NAME_MAX."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _STEM_MAX:
        return name
    head = raw[:150].decode("utf-8", "ignore")
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:16]}"


class ExportError(OSError):
    """The set cannot be written there (a folder holding other files, no permission, ...)."""


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def item_ids(data) -> np.ndarray:
    """Row ids of a table or node ids of a network, as strings."""
    ids = getattr(data, "ids", None)
    if getattr(ids, "lazy_row_numbers", False):  # "0" .. "N-1", made chunk by chunk
        return ids
    if ids is None:
        ids = data.node_ids
    return np.asarray(ids).astype(str)


def result_dict(result) -> dict[str, Any]:
    model = result.model
    data = result.data
    return _clean(
        {
            "model": model.id,
            "hyperparameters": model.hp.as_dict(),
            "data": {
                "path": getattr(data, "path", None),
                "sha256": getattr(data, "sha256", None),
                "kind": data.kind,
                "shape": list(data.shape),
                "directed": getattr(data, "directed", None),
                "standardized": getattr(data, "standardized", None),
                "columns": getattr(data, "columns", None),
                "labels": getattr(data, "label_name", None),
            },
            "seed": result.seed,
            "best_seed": result.best_seed,
            "iterations": result.iterations,
            "converged": result.converged,
            "cancelled": result.cancelled,
            "stop_reason": result.stop_reason,
            "best_iteration": result.best_iteration,
            "objective": {
                "kind": model.objective_kind,
                "trace": list(result.trace),
                "final": result.final_objective,
            },
            "metrics": result.metrics,
            "timing": {"total_s": result.total_s, "per_iteration_s": result.per_iteration_s},
            "restarts": result.restarts,
            "max_iter": result.max_iter,
            "tol": result.tol,
            "notes": (list(getattr(data, "notes", [])) + list(model.notes) + list(result.notes)),
            "version": __version__,
        }
    )


def assignments_table(result) -> str:
    """The whole ``assignments.csv`` as one string, row by row through the csv module: the
    reference the streaming writer (:func:`write_assignments`) is tested against byte for byte."""
    model = result.model
    ids = item_ids(result.data)
    labels = np.asarray(model.labels())
    memberships = model.memberships()
    overlapping = model.overlapping_communities()
    header = ["id", "label"]
    if memberships is not None:
        header += [f"p{k}" for k in range(memberships.shape[1])]
    if overlapping is not None:
        header.append("communities")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for n in range(len(ids)):
        row = [ids[n], int(labels[n])]
        if memberships is not None:
            row += [repr(float(v)) for v in memberships[n]]
        if overlapping is not None:
            row.append(";".join(str(int(c)) for c in overlapping[n]))
        w.writerow(row)
    return buf.getvalue()


# Rows formatted per chunk by the streaming writer: ~25 bytes per membership, so 8,192 rows of
# K = 50 take ~10 MB of text at a time.
CHUNK_ROWS = 8192
_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _csv_ids(ids) -> list[str]:
    """Ids as csv.writer writes them (quoted only where they hold a comma, quote or newline: the
    csv module itself decides, for the rare ids that hold such a character)."""
    if isinstance(ids, np.ndarray):
        # tolist() converts in C. A Python loop calling str() on numpy strings lost Ctrl-C: the
        # KeyboardInterrupt raised inside numpy's conversion was cleared there (about 1 in 6
        # interrupted exports kept running in tests/test_interrupt.py's exporter).
        ids = ids.astype(str, copy=False).tolist()
    else:
        ids = [str(s) for s in ids]
    if not _CSV_SPECIAL.search("".join(ids)):
        return ids
    out = []
    for s in ids:
        if _CSV_SPECIAL.search(s):
            b = io.StringIO()
            csv.writer(b, lineterminator="\n").writerow([s])
            s = b.getvalue()[:-1]
        out.append(s)
    return out


def _packed(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of the strings one after the other, and where each one ends."""
    enc = [s.encode("utf-8") for s in strings]
    ends = np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=len(enc)))
    return np.frombuffer(b"".join(enc), dtype=np.uint8), ends


def _overlapping(model, given):
    """The model's overlapping communities (a list per item), or None when it offers none;
    ``given`` (already computed by the caller) wins."""
    if given is not None:
        return given
    return model.overlapping_communities()


def write_assignments(
    result, path, *, chunk_rows: int = CHUNK_ROWS, progress=None, overlapping=None
) -> Path:
    """Write ``assignments.csv`` (the same bytes as :func:`assignments_table`) in chunks of rows:
    each chunk's numbers are formatted by a numba kernel (Python's ``repr`` of every membership,
    :mod:`explorer.textformat`), so memory beyond the model is O(chunk) and time O(N K) with a
    small constant, several times faster than row by row (bench/bench_export.py, bench/README.md)."""
    from explorer.progress import Task

    model = result.model
    ids = item_ids(result.data)
    labels = np.asarray(model.labels())
    memberships = model.memberships()
    overlapping = _overlapping(model, overlapping)
    N = len(ids)
    K = 0 if memberships is None else memberships.shape[1]
    header = ["id", "label"] + [f"p{k}" for k in range(K)]
    if overlapping is not None:
        header.append("communities")
    path = Path(path)
    with (
        open(path, "wb") as fh,
        Task(f"writing {path.name}", total=N, unit="rows", callback=progress) as task,
    ):
        b = io.StringIO()
        csv.writer(b, lineterminator="\n").writerow(header)
        fh.write(b.getvalue().encode("utf-8"))
        for a in range(0, N, chunk_rows):
            z = min(N, a + chunk_rows)
            id_bytes, id_ends = _packed(_csv_ids(ids[a:z]))
            lab = np.ascontiguousarray(labels[a:z], dtype=np.int64)
            if K:
                M = np.ascontiguousarray(memberships[a:z], dtype=np.float64)
            else:
                M = np.zeros((z - a, 0))
            if overlapping is not None:
                comm = [";".join(str(int(c)) for c in overlapping[n]) for n in range(a, z)]
                c_bytes, c_ends = _packed(comm)
            else:
                c_bytes, c_ends = np.zeros(0, dtype=np.uint8), np.zeros(z - a, dtype=np.int64)
            size = (
                len(id_bytes)
                + len(c_bytes)
                + (z - a) * (textformat.MAX_INT_CHARS + 4 + K * (textformat.MAX_FLOAT_CHARS + 1))
            )
            buf = np.empty(size, dtype=np.uint8)
            n = textformat.csv_rows(
                id_bytes, id_ends, lab, M, c_bytes, c_ends, overlapping is not None, buf
            )
            fh.write(memoryview(buf)[:n])
            task.update(z - a)
    return path


# GraphML carries every membership p0 .. p{K-1} on every node up to this K; beyond it only the
# memberships at or above the model's overlap threshold (and each node's largest), so that
# 1,000,000 nodes x K = 50 is not 50 million XML elements. assignments.csv and parameters.npz
# always hold all of them.
GRAPHML_ALL_MEMBERSHIPS_MAX_K = 10
GRAPHML_EDGE_CHUNK = 65536


def graphml_threshold(model, K: int) -> float:
    """The membership from which GraphML writes p_k on a node: -inf (all) for K <= 10, else the
    model's ``overlap_threshold`` (a-MMSB: 0.2 by default), else 1/K."""
    if K <= GRAPHML_ALL_MEMBERSHIPS_MAX_K:
        return -np.inf
    thr = getattr(getattr(model, "hp", None), "overlap_threshold", None)
    return float(thr) if thr is not None else 1.0 / K


def stream_graphml(
    result, target, *, chunk_rows: int = CHUNK_ROWS, progress=None, overlapping=None, layout=None
) -> None:
    """The network with each node's community, memberships and overlapping communities as
    attributes (Gephi, networkx), streamed: key declarations, then the nodes, then the edges, each
    in chunks formatted by numba kernels (:mod:`explorer.textformat`), so memory beyond the model
    is O(chunk + N ids) and time O(N K + E) with a small constant.

    Keys (declared as networkx writes them, read back by ``networkx.read_graphml`` and Gephi):
    node ``community`` (long, the hard label), ``p0`` .. ``p{K-1}`` (double; see
    :func:`graphml_threshold` for which nodes carry which), ``communities`` (string ``3;17``, the
    overlapping communities, where the model offers them), ``ground_truth`` (string, where
    known); edge ``weight`` (double). With ``layout`` ((N, 2) coordinates, explorer.layout),
    node ``x``, ``y``, ``size`` (double: the position and a size by degree) and ``r``, ``g``,
    ``b`` (int: the community's colour in the window), the names Gephi's GraphML importer maps
    to a node's position, size and colour (networkx reads them back as attributes)."""
    from xml.sax.saxutils import escape, quoteattr

    from explorer.progress import Task

    data = result.data
    model = result.model
    ids = item_ids(data)
    id_bytes, id_ends = _packed([quoteattr(str(i)) for i in ids])
    N = len(ids)
    labels = np.asarray(model.labels())
    memberships = model.memberships()
    K = 0 if memberships is None else memberships.shape[1]
    threshold = graphml_threshold(model, K)
    overlapping = _overlapping(model, overlapping)
    truth = getattr(data, "labels", None)
    keys = ['  <key id="community" for="node" attr.name="community" attr.type="long" />']
    keys += [
        f'  <key id="p{k}" for="node" attr.name="p{k}" attr.type="double" />' for k in range(K)
    ]
    if overlapping is not None:
        keys.append(
            '  <key id="communities" for="node" attr.name="communities" attr.type="string" />'
        )
    if truth is not None:
        keys.append(
            '  <key id="ground_truth" for="node" attr.name="ground_truth" attr.type="string" />'
        )
    if data.kind == "network":
        edges, weights = data.edges, data.weights
    else:  # temporal: the aggregate over time
        agg = data.aggregate().tocoo()
        keep = np.ones(len(agg.row), bool) if data.directed else agg.row < agg.col
        edges, weights = np.column_stack([agg.row[keep], agg.col[keep]]), agg.data[keep]
    E = len(edges)
    xy, size, rgb = np.zeros((0, 2)), np.zeros(0), np.zeros((0, 3), dtype=np.int64)
    if layout is not None:
        from explorer.layout import community_rgb, node_sizes

        xy = np.ascontiguousarray(layout, dtype=np.float64)
        if xy.shape != (N, 2):
            raise ValueError(f"a layout of shape {xy.shape} for {N} nodes")
        size = node_sizes(np.bincount(np.asarray(edges, dtype=np.int64).ravel(), minlength=N))
        codes = labels.astype(np.int64)
        palette = np.array(
            [community_rgb(k) for k in range(int(codes.max(initial=0)) + 1)] + [community_rgb(-1)],
            dtype=np.int64,
        )  # -1 (unassigned): grey
        rgb = np.ascontiguousarray(palette[codes])
        keys += [
            f'  <key id="{k}" for="node" attr.name="{k}" attr.type="double" />'
            for k in ("x", "y", "size")
        ]
        keys += [
            f'  <key id="{k}" for="node" attr.name="{k}" attr.type="int" />'
            for k in ("r", "g", "b")
        ]
    keys.append('  <key id="weight" for="edge" attr.name="weight" attr.type="double" />')
    empty_u8, no_flags = np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.bool_)

    with (
        open(target, "wb") as fh,
        Task(f"writing {Path(target).name}", total=N + E, unit="items", callback=progress) as task,
    ):
        directed = "directed" if getattr(data, "directed", False) else "undirected"
        fh.write(
            (
                "<?xml version='1.0' encoding='utf-8'?>\n<graphml "
                'xmlns="http://graphml.graphdrawing.org/xmlns" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
                'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
                + "\n".join(keys)
                + "\n"
                + f'  <graph edgedefault="{directed}">\n'
            ).encode("utf-8")
        )
        for a in range(0, N, chunk_rows):
            z = min(N, a + chunk_rows)
            lo = id_ends[a - 1] if a else 0
            chunk_ids, chunk_ends = id_bytes[lo : id_ends[z - 1]], id_ends[a:z] - lo
            lab = np.ascontiguousarray(labels[a:z], dtype=np.int64)
            M = (
                np.ascontiguousarray(memberships[a:z], dtype=np.float64)
                if K
                else np.zeros((z - a, 0))
            )
            c_bytes, c_ends = empty_u8, np.zeros(z - a, dtype=np.int64)
            if overlapping is not None:
                c_bytes, c_ends = _packed(
                    [";".join(str(int(c)) for c in overlapping[n]) for n in range(a, z)]
                )
            t_bytes, t_ends, has_truth = empty_u8, np.zeros(z - a, dtype=np.int64), no_flags
            if truth is not None:
                t = truth[a:z]
                has_truth = np.array([v is not None for v in t], dtype=np.bool_)
                t_bytes, t_ends = _packed([escape(str(v)) if v is not None else "" for v in t])
            nbytes = (
                len(chunk_ids)
                + len(c_bytes)
                + len(t_bytes)
                + (z - a)
                * (
                    textformat.NODE_FIXED
                    + textformat.MAX_INT_CHARS
                    + K * (textformat.MAX_FLOAT_CHARS + 48)
                    + (textformat.NODE_LAYOUT if len(xy) else 0)
                )
            )
            buf = np.empty(nbytes, dtype=np.uint8)
            n = textformat.graphml_nodes(
                chunk_ids,
                chunk_ends,
                lab,
                M,
                threshold,
                c_bytes,
                c_ends,
                overlapping is not None,
                t_bytes,
                t_ends,
                has_truth,
                xy[a:z] if len(xy) else xy,
                size[a:z] if len(xy) else size,
                rgb[a:z] if len(xy) else rgb,
                buf,
            )
            fh.write(memoryview(buf)[:n])
            task.update(z - a)
        longest = int(np.diff(id_ends, prepend=0).max()) if N else 0
        for a in range(0, E, GRAPHML_EDGE_CHUNK):
            z = min(E, a + GRAPHML_EDGE_CHUNK)
            e = np.ascontiguousarray(edges[a:z], dtype=np.int64)
            w = np.ascontiguousarray(weights[a:z], dtype=np.float64)
            buf = np.empty(
                (z - a) * (textformat.EDGE_FIXED + 2 * longest + textformat.MAX_FLOAT_CHARS),
                dtype=np.uint8,
            )
            n = textformat.graphml_edges(id_bytes, id_ends, e, w, buf)
            fh.write(memoryview(buf)[:n])
            task.update(z - a)
        fh.write(b"  </graph>\n</graphml>\n")


def write_graphml(result, path, *, layout=None) -> Path:
    """``communities.graphml`` on its own (through a temporary beside it, then a rename);
    :func:`export_result` writes it as part of the set. ``layout``: node coordinates to include
    (see :func:`stream_graphml`)."""
    return write_file_atomically(path, lambda tmp: stream_graphml(result, tmp, layout=layout))


def write_file_atomically(path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place: a
    reader sees the old file or the new one, never half of one. The file gets the ordinary
    permissions (0666 less the umask), like any file the user makes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_files(path)
    tmp = path.with_name(f".{hidden_stem(path.name)}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def fitted_arrays(result) -> dict[str, np.ndarray]:
    """Every fitted array (``parameters.npz``'s content), loadable without pickle."""
    params = {k: np.asarray(v) for k, v in result.model.parameters().items()}
    # Object arrays (ids) would need pickle to load back; store them as fixed-width strings.
    params = {k: (v.astype(str) if v.dtype == object else v) for k, v in params.items()}
    params.setdefault("labels", np.asarray(result.model.labels()))
    # Standardised data: means and covariances are in standardised units; the column means and
    # scales map them back (x = column_mean + column_scale * z).
    data = result.data
    if getattr(data, "standardized", False) and getattr(data, "offset", None) is not None:
        params["column_mean"] = np.asarray(data.offset, dtype=np.float64)
        params["column_scale"] = np.asarray(data.scale, dtype=np.float64)
    return params


def open_regular_file(path):
    """``path`` opened for reading bytes, refused (DataError, one line naming the file) unless it
    is a regular file. A FIFO named by a session or a manifest would block ``open`` until a
    writer comes, forever; a device or a socket never ends or cannot be read. The file is opened
    without blocking (``O_NONBLOCK``: a FIFO opens at once) and checked by ``fstat`` on what was
    opened, so nothing swapped in after the check is read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not hasattr(os, "O_NONBLOCK"):  # Windows: no FIFOs to block on; check first anyway
        _require_regular(path, os.stat(path).st_mode)
    fd = os.open(path, flags)
    try:
        _require_regular(path, os.fstat(fd).st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _require_regular(path, mode: int) -> None:
    import stat

    if stat.S_ISREG(mode):
        return
    what = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a folder"
        if stat.S_ISDIR(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a special file"
    )
    raise DataError(f"is {what}, not a regular file: not read", path=path)


def file_sha256(path) -> str:
    """The sha256 of a file's bytes (what the loaders record as ``data.sha256``); DataError for
    anything that is not a regular file (:func:`open_regular_file`), before reading it."""
    h = hashlib.sha256()
    with open_regular_file(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- the folder swap ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale_files(path) -> list[Path]:
    """Remove the temporaries :func:`write_file_atomically` left beside ``path`` when it was
    killed (their process no longer runs); return what was removed."""
    path = Path(path)
    stem = hidden_stem(path.name)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for e in entries:
        m = _TEMP_FILE.match(e.name)
        if (
            m
            and m.group("name") == stem
            and not _pid_alive(int(m.group("pid")))
            and e.is_file(follow_symlinks=False)
        ):
            with contextlib.suppress(OSError):
                os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def _followed(out: Path) -> Path:
    """``out``, or the folder a symbolic link ``out`` points to; ExportError for a link to
    nothing (it would pass the checks, then the export would fail after the fit)."""
    if not out.is_symlink():
        return out
    real = Path(os.path.realpath(out))
    if not real.exists():
        raise ExportError(f"{out}: is a symbolic link to {os.readlink(out)}, which does not exist")
    return real


def probe_writable(probe: Path, make, remove) -> None:
    """``make(probe)`` then ``remove(probe)``: raises the OSError a write there meets, and leaves
    nothing (made inside the try, so a Ctrl-C just after it does not leave the probe either)."""
    try:
        make(probe)
    finally:
        with contextlib.suppress(OSError):
            remove(probe)


def _hidden_folder(out: Path, which: str = "new") -> Path:
    parent = out.parent if str(out.parent) else Path(".")
    return parent / (
        f".{hidden_stem(out.name)}.explorer-{which}-{os.getpid()}-{secrets.token_hex(6)}"
    )


def clean_stale(out) -> list[Path]:
    """Remove the hidden folders an export into ``out`` left behind when it was killed (their
    process no longer runs); return what was removed."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    stem = hidden_stem(out.name)
    for e in entries:
        m = _HIDDEN.match(e.name)
        if m and m.group("name") == stem and not _pid_alive(int(m.group("pid"))):
            shutil.rmtree(e.path, ignore_errors=True)
            removed.append(Path(e.path))
    return removed


def _foreign(out: Path) -> list[str]:
    """Entries of an existing folder that are not part of an exported set (a distributed fit's
    set has an ``assignments/`` folder of Parquet parts)."""
    return sorted(
        e.name
        for e in os.scandir(out)
        if not (
            (e.is_file(follow_symlinks=False) and (e.name in SET_FILES or _OURS.match(e.name)))
            or (e.is_dir(follow_symlinks=False) and e.name == ASSIGNMENTS_DIR)
        )
    )


def check_out_dir(out) -> None:
    """Raise ExportError when a set cannot be exported into ``out``: it is a file, holds files that
    are not an exported set, or nothing can be written beside it or in it. A symbolic link is
    followed (the module docstring). Creates nothing that stays."""
    out = _followed(Path(out))
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: is a file, not a folder")
    if out.is_dir():
        try:
            foreign = _foreign(out)
        except OSError as e:
            raise ExportError(f"{out}: cannot read the folder ({e.strerror or e})") from None
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise ExportError(
                f"{out}: the folder holds files that are not an exported result ({shown}); "
                "export into a new or empty folder (an export replaces the whole folder so that "
                "it always holds one complete set)"
            )
        # The previous set's files are deleted from inside it after the swap.
        with os.scandir(out) as entries:
            holds_a_set = next(entries, None) is not None
        if holds_a_set and not os.access(out, os.W_OK | os.X_OK):
            raise ExportError(
                f"{out}: cannot write the results there (the folder is read-only; "
                "its earlier set could not be replaced)"
            )
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe_writable(_hidden_folder(out), Path.mkdir, Path.rmdir)
    except OSError as e:
        raise ExportError(
            f"{out}: cannot write the results there ({e.strerror or e} in "
            f"{parent}, where the set is written first and then swapped in)"
        ) from None


_libc_renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when not available."""
    global _libc_renameat2
    if not sys.platform.startswith("linux"):
        return False
    if _libc_renameat2 is None:
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_uint,
            ]
            fn.restype = ctypes.c_int
            _libc_renameat2 = fn
        except (OSError, AttributeError):
            _libc_renameat2 = False
    if not _libc_renameat2:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = _libc_renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


@contextlib.contextmanager
def _sigint_deferred():
    """Hold back Ctrl-C (SIGINT) for the few system calls of the swap; raise it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *a: pending.append(a))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_watched():
    """Yield a function telling whether Ctrl-C (SIGINT) came inside the block. The previous
    handler still runs (it raises KeyboardInterrupt), but C code can swallow that exception
    (numpy's conversions clear it), so the writer checks before the swap: a set is never swapped
    in after a Ctrl-C."""
    previous = signal.getsignal(signal.SIGINT)
    seen = []

    def handler(signum, frame):
        if previous is signal.SIG_IGN:
            return
        seen.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:  # SIG_DFL or a handler installed outside Python
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):
        yield lambda: False
        return
    try:
        yield lambda: bool(seen)
    finally:
        signal.signal(signal.SIGINT, previous)


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the folder ``tmp`` at ``out``; the previous ``out`` (if any) is deleted."""
    with _sigint_deferred():
        if not out.exists():
            os.rename(tmp, out)
            return
        if _exchange(tmp, out):
            old = tmp  # tmp now holds the previous set
        else:
            old = tmp.with_name(tmp.name.replace(".explorer-new-", ".explorer-old-"))
            os.rename(out, old)
            os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)  # the previous set, under Ctrl-C's deferral


def write_set(out_dir, doc: dict[str, Any], write_members) -> list[str]:
    """Write one result set into ``out_dir`` as a whole: ``write_members(tmp)`` writes every member
    (files, or the ``assignments/`` folder of a distributed fit) into a hidden folder beside
    ``out_dir`` and returns their names; ``result.json`` (``doc`` plus the manifest ``files``: the
    SHA-256 and size of every member file) is written last, then the folder is swapped in. Returns
    the member names. Raises ExportError (an OSError) when ``out_dir`` holds other files."""
    out = _followed(Path(out_dir))
    check_out_dir(out)
    clean_stale(out)
    tmp = _hidden_folder(out)
    with _sigint_watched() as interrupted:
        try:
            # mode 0777 less the umask, like any folder the user makes; inside the try, so that
            # a Ctrl-C arriving just after the mkdir still removes the folder
            os.mkdir(tmp)
            names = list(write_members(tmp))
            members = []
            for n in names:
                p = tmp / n
                members += (
                    sorted(f.relative_to(tmp).as_posix() for f in p.rglob("*") if f.is_file())
                    if p.is_dir()
                    else [n]
                )
            doc = dict(doc)
            doc["files"] = {
                n: {"sha256": file_sha256(tmp / n), "bytes": (tmp / n).stat().st_size}
                for n in members
            }
            text = json.dumps(_clean(doc), indent=2, allow_nan=False)
            (tmp / RESULT).write_text(text + "\n")  # last: the manifest of the set
            if interrupted():  # its KeyboardInterrupt was swallowed: still a Ctrl-C
                raise KeyboardInterrupt
            _swap_in(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return names


def export_result(result, out_dir, *, layout=None) -> dict[str, Path]:
    """Write the result set into ``out_dir`` (see the module docstring); return the file paths.
    ``layout``: (N, 2) node coordinates for ``communities.graphml`` (networks only).

    Raises ExportError (an OSError) when ``out_dir`` holds other files or cannot be written."""
    out = Path(out_dir)

    def members(tmp: Path) -> list[str]:
        names = [PARAMETERS, ASSIGNMENTS]
        params = fitted_arrays(result)
        with open(tmp / PARAMETERS, "wb") as fh:
            np.savez(fh, **params)
        overlapping = _overlapping(result.model, None)  # once for both files
        write_assignments(result, tmp / ASSIGNMENTS, overlapping=overlapping)
        if result.data.kind in ("network", "temporal"):
            stream_graphml(result, tmp / GRAPHML, overlapping=overlapping, layout=layout)
            names.append(GRAPHML)
        return names

    names = write_set(out, result_dict(result), members)
    return {_KEYS[n]: out / n for n in [RESULT, *names]}


# ---- reading a set back -------------------------------------------------------------------------


@dataclass
class LoadedResult:
    """An exported set read back: ``result.json`` as a dict, the arrays, the assignments table."""

    path: Path
    doc: dict[str, Any]
    parameters: dict[str, np.ndarray]
    assignments: Any  # pandas DataFrame; ``id`` kept as strings

    @property
    def model(self) -> str:
        return self.doc["model"]

    @property
    def labels(self) -> np.ndarray:
        return self.parameters["labels"]


_PART = re.compile(r"^assignments/part-\d+\.parquet$")


def _member_name(name, rpath: Path) -> str:
    """A manifest entry must name one of the set's own files inside its folder: a set file, or a
    part of a distributed fit's ``assignments/``; never a path elsewhere (``../x``, ``/etc/x``)."""
    if not isinstance(name, str) or not (name in SET_FILES[1:] or _PART.match(name)):
        raise DataError(
            f"result.json's manifest names {name!r}, which is not a file of an "
            "exported set (a set names only its own files, inside its folder)",
            path=rpath,
        )
    return name


def load_result(out_dir) -> LoadedResult:
    """Read an exported set and check it is one set: every file the manifest (``files`` in
    ``result.json``) names is one of the set's own files, there, with its SHA-256; no set file is
    there that it does not name; and the arrays agree with the table. Raises DataError naming the
    file and the problem, for any damage (a malformed manifest included)."""
    out = Path(out_dir)
    if not out.is_dir():
        raise DataError("no exported result here (not a folder)", path=out)
    doc = _read_result_json(out)
    files = _manifest(doc, out / RESULT)
    _check_members(out, files)
    params = _read_parameters(out / PARAMETERS)
    table = _read_assignments(out, files)
    _check_item_count(doc, table, out)
    return LoadedResult(path=out, doc=doc, parameters=params, assignments=table)


def _read_result_json(out: Path) -> dict:
    """``result.json`` of the set in ``out``, checked to be an explorer result."""
    rpath = out / RESULT
    try:
        doc = json.loads(rpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no result.json: not an exported result", path=out) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DataError(
            f"cannot read result.json ({type(e).__name__}: {e})"[:300], path=rpath
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), str):
        raise DataError("not an explorer result.json (no 'model')", path=rpath)
    return doc


def _manifest(doc: dict, rpath: Path) -> dict:
    """The manifest (``files``): a mapping that names the parameters file at least."""
    files = doc.get("files")
    if not isinstance(files, dict):
        raise DataError(
            "result.json has no manifest ('files'): written by an older version, "
            "the files cannot be checked to belong together",
            path=rpath,
        )
    if PARAMETERS not in files:
        raise DataError(f"result.json's manifest does not name {PARAMETERS}", path=rpath)
    return files


def _check_members(out: Path, files: dict) -> None:
    """Every file the manifest names is the set's own, there, with its SHA-256, and no set file is
    there that it does not name."""
    rpath = out / RESULT
    real_out = out.resolve()
    for name, meta in files.items():
        _member_name(name, rpath)
        if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            raise DataError(f"result.json's manifest entry for {name} has no sha256", path=rpath)
        p = out / name
        if p.is_symlink() or not p.resolve().is_relative_to(real_out):
            raise DataError(f"{name} is a link (a set holds only its own files)", path=out)
        if not p.is_file():
            raise DataError(f"{name} is missing: the set is incomplete", path=out)
        if file_sha256(p) != meta["sha256"]:
            raise DataError(
                f"{name} does not belong to this result.json (its SHA-256 differs "
                "from the manifest's): the set is mixed",
                path=out,
            )
    extra = [n for n in SET_FILES if n != RESULT and n not in files and (out / n).exists()]
    if extra:
        raise DataError(f"{', '.join(extra)} is not part of this result (a stale file)", path=out)


def _read_parameters(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``parameters.npz``, never unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception as e:  # BadZipFile, a pickled array (ValueError), zlib.error
        raise DataError(f"cannot read the arrays ({type(e).__name__}: {e})", path=path) from None


def _read_assignments(out: Path, files: dict):
    """The assignments table: ``assignments.csv``, or a distributed fit's parquet parts."""
    import pandas as pd

    if ASSIGNMENTS in files:
        try:
            return pd.read_csv(out / ASSIGNMENTS, dtype={"id": str}, keep_default_na=False)
        except (ValueError, OSError, pd.errors.ParserError) as e:
            raise DataError(f"cannot read the table ({e})", path=out / ASSIGNMENTS) from None
    parts = sorted(n for n in files if _PART.match(n))
    if not parts:
        raise DataError(
            f"result.json's manifest names no {ASSIGNMENTS} and no {ASSIGNMENTS_DIR}/ parts",
            path=out / RESULT,
        )
    try:
        return pd.concat([pd.read_parquet(out / n) for n in parts], ignore_index=True)
    except Exception as e:  # pyarrow's errors for a damaged part
        raise DataError(
            f"cannot read the assignments ({type(e).__name__}: {e})", path=out / ASSIGNMENTS_DIR
        ) from None


def _check_item_count(doc: dict, table, out: Path) -> None:
    """The table has as many rows as ``data.shape[0]`` in ``result.json`` says."""
    rpath = out / RESULT
    data = doc.get("data")
    if data is not None and not isinstance(data, dict):
        raise DataError(f"result.json: data is {data!r}, not an object", path=rpath)
    shape = (data or {}).get("shape")
    if shape is not None and not isinstance(shape, list):
        raise DataError(f"result.json: data.shape is {shape!r}, not a list", path=rpath)
    n = shape[0] if shape else None
    if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
        raise DataError(f"result.json: data.shape holds {n!r}, not a number of items", path=rpath)
    if n is not None and len(table) != n:
        raise DataError(f"assignments has {len(table)} rows, result.json says {n} items", path=out)
