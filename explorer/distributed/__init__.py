"""Fitting the table models on a Dask cluster (optional: ``pip install .[dask]``).

Nothing else in ``explorer`` imports this package; it imports dask when used. The front doors:

* :func:`connect` (``"local"`` starts a LocalCluster: processes, one thread each, as many workers
  as cores; anything else is a scheduler address) -> a :class:`Cluster` with ``client`` and
  ``dashboard_link``;
* :func:`load` / :func:`from_array`: the Dask-backed table (:mod:`.data`);
* :func:`distributed_model`: the Model that ``runner.fit`` drives (:mod:`.model`);
* :func:`fit`: all of it in one Qt-free call (what the window's worker calls);
* :func:`export`: result.json and parameters.npz on the client, ``assignments/`` written by the
  workers as a partitioned Parquet dataset (one file per partition: ``row``, ``label``, ``p0``..).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import distributed as _distributed  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the Dask path needs the dask extra: pip install 'explorer[dask]' "
        "(dask[distributed] and pyarrow)"
    ) from e

from .data import DistributedTable, Part, from_array, load
from .model import DistributedModel, distributed_model
from .plans import DISTRIBUTED_MODELS

__all__ = [
    "Cluster",
    "DistributedModel",
    "DistributedTable",
    "DISTRIBUTED_MODELS",
    "Part",
    "connect",
    "distributed_model",
    "export",
    "fit",
    "from_array",
    "load",
    "write_assignments",
]


@dataclass
class Cluster:
    """A connected client (and the LocalCluster it started, if any)."""

    client: object
    cluster: object | None
    address: str

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # a scheduler without the dashboard (bokeh) installed
            return None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler (the CLI's --dask-timeout default)


class SchedulerUnreachable(OSError):
    """No Dask scheduler answers at the address (refused, unknown host, timed out, or not an
    address at all); the message is one line naming the address."""


def connect(
    address: str = "local",
    *,
    n_workers: int | None = None,
    memory_limit: str | int = "auto",
    numba_threads: int = 1,
    dashboard_address: str | None = ":0",
    timeout: float | None = CONNECT_TIMEOUT,
) -> Cluster:
    """Connect to a Dask scheduler at ``address``, or with ``"local"`` start a LocalCluster of
    ``n_workers`` (default: the number of cores) single-threaded worker processes, each with
    ``numba_threads`` numba threads (1: the workers are the parallelism). A scheduler that does
    not answer within ``timeout`` seconds (None: Dask's own default, 30 s) raises
    :class:`SchedulerUnreachable`."""
    from distributed import Client, LocalCluster

    if address in ("local", "", None):
        cluster = LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=dashboard_address,
            env={"NUMBA_NUM_THREADS": str(numba_threads)},
        )
        return Cluster(Client(cluster), cluster, "local")
    try:
        client = Client(address, timeout=timeout) if timeout else Client(address)
    except (OSError, ValueError, TypeError) as e:
        # OSError "Timed out trying to connect to ... after 5 s" (refused, unknown host);
        # ValueError/TypeError for text that is not an address ("missing port number ...")
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SchedulerUnreachable(
            f"--dask {address}: no Dask scheduler reached ({text})"
        ) from None
    return Cluster(client, None, address)


def fit(
    model_id: str,
    source,
    address="local",
    *,
    hyperparameters=None,
    partition_rows=None,
    columns=None,
    cluster=None,
    out=None,
    log=None,
    **options,
):
    """Fit ``model_id`` to ``source`` (Parquet folder, CSV/Parquet glob or file) on a cluster.

    ``address`` is "local" or a scheduler address (ignored when ``cluster`` is given, which is
    left open). ``options`` are :func:`explorer.runner.fit`'s (seed, max_iter, tol, callback,
    control, snapshots, snapshot_interval, here 0.2 s unless given) and the hyperparameters'
    values. ``log(text)`` receives one-line messages (the dashboard link first). With ``out`` the
    result is exported there. Returns the runner's FitResult; its ``data`` is the
    DistributedTable, released unless the caller passed ``cluster``.
    """
    from explorer import runner

    own = cluster is None
    cluster = cluster or connect(address)
    say = log or (lambda text: None)
    try:
        say(f"Dask dashboard: {cluster.dashboard_link}")
        data = load(cluster.client, source, partition_rows=partition_rows, columns=columns)
        say(f"{data.describe()} ({data.dtype})")
        options.setdefault("snapshot_interval", 0.2)
        model = distributed_model(model_id)
        result = runner.fit(model, data, hyperparameters=hyperparameters, **options)
        if out is not None:
            export(result, out)
        if own:
            data.release()
        return result
    finally:
        if own:
            cluster.close()


def _write_part(part, hp, state, output, out_dir) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels, R = output(part, hp, state)
    cols = {
        "row": np.arange(part.offset, part.offset + len(labels), dtype=np.int64),
        "label": np.asarray(labels, dtype=np.int64),
    }
    if R is not None:
        for k in range(R.shape[1]):
            cols[f"p{k}"] = R[:, k]
    path = Path(out_dir) / f"part-{part.index:05d}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.table(cols), tmp)
    os.replace(tmp, path)
    return len(labels)


def write_assignments(model: DistributedModel, out_dir) -> Path:
    """Every row's label (and memberships) written by the workers into ``out_dir`` as a Parquet
    dataset, one file per partition; the client never holds the labels."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*.parquet"):
        old.unlink()
    written = model.map(
        _write_part, model.hp, model.state(), type(model.plan).part_output, str(out_dir.resolve())
    )
    if sum(written) != model.data.n_items:
        raise RuntimeError(f"wrote {sum(written)} assignments for {model.data.n_items} rows")
    return out_dir


def export(result, out_dir) -> dict[str, Path]:
    """result.json (as ``explorer.export.export_result``), parameters.npz (the global parameters, no per-row
    arrays) and ``assignments/`` (written by the workers), written and swapped in as one set like
    every export (``explorer.export.write_set``)."""
    from explorer.export import ASSIGNMENTS_DIR, PARAMETERS, RESULT, result_dict, write_set

    out = Path(out_dir)
    d = result_dict(result)
    d["data"]["partitions"] = len(result.data.parts)
    d["distributed"] = {
        "init_sample": int(min(result.model.init_sample, result.data.n_items)),
        "assignments": "assignments/ (Parquet dataset: row, label, p0..)",
    }

    def members(tmp: Path) -> list[str]:
        params = {k: np.asarray(v) for k, v in result.model.parameters().items()}
        with open(tmp / PARAMETERS, "wb") as fh:
            np.savez(fh, **params)
        write_assignments(result.model, tmp / ASSIGNMENTS_DIR)
        return [PARAMETERS, ASSIGNMENTS_DIR]

    write_set(out, d, members)
    return {
        "result": out / RESULT,
        "parameters": out / PARAMETERS,
        "assignments": out / ASSIGNMENTS_DIR,
    }
