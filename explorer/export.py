"""Export a fit: ``result.json``, ``parameters.npz``, ``assignments.csv`` (+ ``communities.graphml``).

One code path for the CLI and the window. Every file is written atomically (a temporary file in the
same folder, then a rename), so a crash never leaves half a file behind.

``result.json`` keys are an interface other programs read::

    {"model": "kmeans", "hyperparameters": {...}, "data": {"path", "sha256", "kind", "shape"},
     "seed": 0, "best_seed": 0, "iterations": 12, "converged": true, "cancelled": false,
     "stop_reason": "converged", "best_iteration": 12,
     "objective": {"kind": "distortion", "trace": [...], "final": ...},
     "metrics": {"nmi": ..., "ari": ...}, "timing": {"total_s": ..., "per_iteration_s": ...},
     "restarts": [...], "max_iter": ..., "tol": ..., "notes": [...], "version": "0.1.0"}

``stop_reason`` says why the run ended ("converged", "stopped: ...", "iteration limit", "cancelled",
"non-finite objective ...", "degenerate: ...") and ``best_iteration`` which iteration's state was
returned; ``objective.final`` is that state's objective, ``objective.trace`` the whole history.
Non-finite numbers are written as ``null`` (JSON has no NaN). ``per_iteration_s`` is the median
wall time of one iteration, so a first iteration that compiles kernels does not count.

``assignments.csv``: ``id,label`` (row or node id as given, hard label), then ``p0,p1,...`` where
the model has memberships, and ``communities`` (overlapping memberships above the model's
threshold, separated by ``;``) where the model offers them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from explorer import __version__


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


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file_object_path)`` on a temp file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def item_ids(data) -> np.ndarray:
    """Row ids of a table or node ids of a network, as strings."""
    ids = getattr(data, "ids", None)
    if ids is None:
        ids = data.node_ids
    return np.asarray(ids).astype(str)


def result_dict(result) -> dict[str, Any]:
    model = result.model
    data = result.data
    return _clean({
        "model": model.id,
        "hyperparameters": model.hp.as_dict(),
        "data": {"path": getattr(data, "path", None), "sha256": getattr(data, "sha256", None),
                 "kind": data.kind, "shape": list(data.shape),
                 "directed": getattr(data, "directed", None),
                 "standardized": getattr(data, "standardized", None),
                 "columns": getattr(data, "columns", None),
                 "labels": getattr(data, "label_name", None)},
        "seed": result.seed,
        "best_seed": result.best_seed,
        "iterations": result.iterations,
        "converged": result.converged,
        "cancelled": result.cancelled,
        "stop_reason": result.stop_reason,
        "best_iteration": result.best_iteration,
        "objective": {"kind": model.objective_kind, "trace": list(result.trace),
                      "final": result.final_objective},
        "metrics": result.metrics,
        "timing": {"total_s": result.total_s, "per_iteration_s": result.per_iteration_s},
        "restarts": result.restarts,
        "max_iter": result.max_iter,
        "tol": result.tol,
        "notes": (list(getattr(data, "notes", [])) + list(getattr(model, "notes", []))
                  + list(result.notes)),
        "version": __version__,
    })


def assignments_table(result) -> str:
    model = result.model
    ids = item_ids(result.data)
    labels = np.asarray(model.labels())
    memberships = model.memberships()
    overlapping = None
    if hasattr(model, "overlapping_communities"):
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


def write_graphml(result, path) -> Path:
    """The network with each node's community and memberships as attributes (Gephi, networkx).

    Streamed node by node and edge by edge (the same GraphML networkx writes: keys, then nodes,
    then edges), so memory stays O(1) beyond the model: building a networkx graph first took
    1.4 GB for 20,000 nodes x K = 50."""
    from xml.sax.saxutils import escape, quoteattr

    data = result.data
    model = result.model
    path = Path(path)
    ids = [quoteattr(str(i)) for i in item_ids(data)]
    labels = np.asarray(model.labels())
    memberships = model.memberships()
    K = 0 if memberships is None else memberships.shape[1]
    truth = getattr(data, "labels", None)
    keys = ['  <key id="community" for="node" attr.name="community" attr.type="long" />']
    keys += [f'  <key id="p{k}" for="node" attr.name="p{k}" attr.type="double" />'
             for k in range(K)]
    if truth is not None:
        keys.append('  <key id="ground_truth" for="node" attr.name="ground_truth" '
                    'attr.type="string" />')
    keys.append('  <key id="weight" for="edge" attr.name="weight" attr.type="double" />')
    if data.kind == "network":
        edges, weights = data.edges, data.weights
    else:  # temporal: the aggregate over time
        agg = data.aggregate().tocoo()
        keep = np.ones(len(agg.row), bool) if data.directed else agg.row < agg.col
        edges, weights = np.column_stack([agg.row[keep], agg.col[keep]]), agg.data[keep]

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("<?xml version='1.0' encoding='utf-8'?>\n<graphml "
                     'xmlns="http://graphml.graphdrawing.org/xmlns" '
                     'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                     'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
                     'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n')
            fh.write("\n".join(keys) + "\n")
            directed = "directed" if getattr(data, "directed", False) else "undirected"
            fh.write(f'  <graph edgedefault="{directed}">\n')
            for n, node in enumerate(ids):
                parts = [f'    <node id={node}>\n      <data key="community">{int(labels[n])}'
                         "</data>\n"]
                if K:
                    parts += [f'      <data key="p{k}">{float(v)!r}</data>\n'
                              for k, v in enumerate(memberships[n])]
                if truth is not None and truth[n] is not None:
                    parts.append(f'      <data key="ground_truth">{escape(str(truth[n]))}'
                                 "</data>\n")
                parts.append("    </node>\n")
                fh.write("".join(parts))
            weights_f = np.asarray(weights, float)
            for start in range(0, len(edges), 16384):     # chunks: no list of every edge
                fh.write("".join(
                    f"    <edge source={ids[u]} target={ids[v]}>\n"
                    f'      <data key="weight">{w!r}</data>\n    </edge>\n'
                    for (u, v), w in zip(edges[start:start + 16384].tolist(),
                                         weights_f[start:start + 16384].tolist())))
            fh.write("  </graph>\n</graphml>\n")

    _atomic_write(path, write)
    return path


def export_result(result, out_dir) -> dict[str, Path]:
    """Write the result files into ``out_dir`` (created if missing); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    text = json.dumps(result_dict(result), indent=2, allow_nan=False)
    paths["result"] = out / "result.json"
    _atomic_write(paths["result"], lambda tmp: Path(tmp).write_text(text + "\n"))

    params = {k: np.asarray(v) for k, v in result.model.parameters().items()}
    # Object arrays (ids) would need pickle to load back; store them as fixed-width strings.
    params = {k: (v.astype(str) if v.dtype == object else v) for k, v in params.items()}
    params.setdefault("labels", np.asarray(result.model.labels()))
    paths["parameters"] = out / "parameters.npz"

    def write_npz(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **params)

    _atomic_write(paths["parameters"], write_npz)

    table = assignments_table(result)
    paths["assignments"] = out / "assignments.csv"
    _atomic_write(paths["assignments"], lambda tmp: Path(tmp).write_text(table))
    table = ""        # free the text before the GraphML is written

    if result.data.kind in ("network", "temporal"):
        paths["graphml"] = write_graphml(result, out / "communities.graphml")
    return paths
