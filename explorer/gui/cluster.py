"""Running a table model on a Dask cluster from the window ("Run on: local cluster / Dask
scheduler: ADDRESS"; optional: ``pip install .[dask]``).

Nothing here imports dask at module level: the window asks :func:`dask_status` whether the extra
is installed and imports :mod:`explorer.distributed` only when a Dask run starts.

* :class:`ClusterHolder` owns the window's connection: one ``explorer.distributed.Cluster`` (the
  LocalCluster the window started, or a client of a remote scheduler) and the table it last read
  into the workers' memory, so a second run on the same file (or an export of the last run) needs
  no re-read. A run on another address closes the previous connection; ``close()`` (the window's
  closeEvent) closes the client and the LocalCluster, so no worker process outlives the window.
* :func:`dask_fit_job` is a :class:`explorer.gui.worker.Job` (the window's one job type) running
  :func:`dask_fit_steps`, what :func:`explorer.distributed.fit` does (connect, load, the
  distributed twin of the model, ``runner.fit_steps``), reusing the holder's cluster and table. Cancel and pause are the runner's
  ``RunControl``: a distributed step waits for its tasks, so a cancelled fit leaves no task
  running.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

from explorer import runner
from explorer.gui.worker import Job

# The models explorer.distributed has a plan for (explorer.distributed.DISTRIBUTED_MODELS; kept
# here so the window need not import dask to know; tests/test_gui_distributed.py checks they agree).
DISTRIBUTED_MODELS = (
    "kmeans",
    "kmedians",
    "fuzzy-cmeans",
    "gmm",
    "bernoulli-mixture",
    "exponential-mixture",
    "bayes-gmm",
)
# Files the workers can read (explorer.distributed.data): CSV and Parquet.
SOURCE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".parq")
INSTALL_HINT = "pip install .[dask]"
SNAPSHOT_INTERVAL_S = 0.25  # a distributed snapshot is a round trip to a worker
CONNECT_TIMEOUT_S = 10  # reaching a scheduler

RUN_HERE, RUN_LOCAL, RUN_SCHEDULER = "here", "local", "scheduler"


def dask_status() -> str | None:
    """None when the dask extra is installed, else why not (with the install command)."""
    missing = [m for m in ("dask", "distributed", "pyarrow") if importlib.util.find_spec(m) is None]
    if missing:
        return f"Dask is not installed ({', '.join(missing)} missing): {INSTALL_HINT}"
    return None


def unsupported_reason(model_cls, data, data_path, load_options: dict) -> str | None:
    """Why this model and data cannot run on a cluster (None when they can)."""
    if model_cls is not None and "table" not in model_cls.data_kinds:
        return f"{model_cls.name} fits networks; Dask runs the table models only"
    if model_cls is not None and model_cls.id not in DISTRIBUTED_MODELS:
        return (
            f"{model_cls.name} has no distributed path (Dask runs {', '.join(DISTRIBUTED_MODELS)})"
        )
    if data is None:
        return None
    if data.kind != "table":
        return "Dask fits tables only"
    if not data_path or not str(data_path).lower().endswith(SOURCE_SUFFIXES):
        return "the workers read CSV or Parquet files; this data is not one"
    if load_options.get("standardize") or getattr(data, "standardized", False):
        return "Standardise is not available on a cluster (the workers read the file as it is)"
    if load_options.get("missing") == "drop":
        return "Drop rows with missing values is not available on a cluster"
    return None


def partition_rows(n_rows: int | None, n_workers: int) -> int | None:
    """Rows per partition so that one file keeps every worker busy: one partition per worker
    (a single file would otherwise be one partition, fitted by one worker while the others
    wait). None (the file's own pieces) when the row count is unknown or there is one worker."""
    if not n_rows or n_workers < 2:
        return None
    return max(1, -(-int(n_rows) // int(n_workers)))


def cluster_key(mode: str, address: str, n_workers: int) -> tuple:
    return (RUN_LOCAL, int(n_workers)) if mode == RUN_LOCAL else (RUN_SCHEDULER, address.strip())


class ClusterHolder:
    """The window's Dask connection and the table last read into the workers (see the module
    docstring). Used from the job threads and the GUI thread, one at a time (a lock)."""

    def __init__(self):
        self._lock = threading.RLock()
        self.cluster = None  # explorer.distributed.Cluster
        self.key: tuple | None = None
        self.table = None  # explorer.distributed.DistributedTable
        self.table_key: tuple | None = None

    def connect(self, key: tuple, log=None):
        """The cluster for ``key`` (connecting or starting it; another one is closed first)."""
        from explorer import distributed

        with self._lock:
            if self.cluster is not None and self.key == key and self._alive():
                return self.cluster
            self.close()
            if key[0] == RUN_LOCAL:
                if log:
                    log(f"starting a local Dask cluster: {key[1]} worker processes, 1 thread each")
                self.cluster = distributed.connect("local", n_workers=key[1])
            else:
                if log:
                    log(f"connecting to the Dask scheduler at {key[1]}")
                from distributed import Client

                # explorer.distributed.connect with a shorter timeout than Client's 30 s: a
                # mistyped address is reported in seconds (cancel cannot interrupt a connect).
                self.cluster = distributed.Cluster(
                    Client(key[1], timeout=CONNECT_TIMEOUT_S), None, key[1]
                )
            self.key = key
            return self.cluster

    def _alive(self) -> bool:
        try:
            return self.cluster.client.status == "running"
        except Exception:
            return False

    def load(self, source: str, columns, partition_rows: int | None = None, log=None):
        """The table ``source`` in the workers' memory (read again when the file changed)."""
        from explorer import distributed

        st = os.stat(source) if os.path.exists(source) else None
        key = (
            str(Path(source).resolve()),
            st and st.st_mtime_ns,
            st and st.st_size,
            tuple(columns or ()),
            partition_rows,
        )
        with self._lock:
            if self.table is not None and self.table_key == key and self.table.parts:
                return self.table
            self.release_table()
            table = distributed.load(
                self.cluster.client, source, columns=columns, partition_rows=partition_rows
            )
            self.table, self.table_key = table, key
            return table

    def release_table(self) -> None:
        with self._lock:
            if self.table is not None:
                try:
                    self.table.release()
                except Exception:
                    pass
            self.table = self.table_key = None

    def processing(self) -> int:
        """Tasks running on the workers now (0 when none, or when not connected)."""
        with self._lock:
            if self.cluster is None:
                return 0
            return sum(len(v) for v in self.cluster.client.processing().values())

    def worker_pids(self) -> list[int]:
        """The process ids of the workers (and their nannies) of a LocalCluster we started."""
        with self._lock:
            if self.cluster is None:
                return []
            pids = self.cluster.client.run(os.getpid)
            return sorted(pids.values())

    def close(self) -> None:
        """Release the table and close the client and the LocalCluster it started."""
        with self._lock:
            self.release_table()
            if self.cluster is not None:
                try:
                    self.cluster.close()
                except Exception:
                    pass
            self.cluster = None
            self.key = None


def dask_fit_steps(
    holder: ClusterHolder,
    key: tuple,
    model_id: str,
    hp,
    source: str,
    columns,
    *,
    seed: int,
    max_iter,
    tol,
    control,
    n_rows: int | None = None,
):
    """A distributed fit as a generator for the window's :class:`~explorer.gui.worker.Job`:
    yields lines for the log (str) while it connects and reads the table, then the runner's
    Progress reports, and returns the FitResult."""
    from explorer import distributed

    lines: list[str] = []
    cluster = holder.connect(key, lines.append)
    yield from _drain(lines)
    n = len(cluster.client.scheduler_info().get("workers", {}))
    link = cluster.dashboard_link
    yield (
        f"Dask: {n} workers; dashboard: "
        + (link or "not available (the scheduler has no bokeh: pip install bokeh)")
    )
    data = holder.load(source, columns, partition_rows(n_rows, n), lines.append)
    yield from _drain(lines)
    yield f"Dask: {data.describe()} ({data.dtype})"
    model = distributed.distributed_model(model_id)(hp)
    return (
        yield from runner.fit_steps(
            model,
            data,
            seed=seed,
            max_iter=max_iter,
            tol=tol,
            control=control,
            snapshot_interval=SNAPSHOT_INTERVAL_S,
        )
    )


def _drain(lines: list[str]):
    while lines:
        yield lines.pop(0)


def dask_fit_job(
    job_id: int,
    holder: ClusterHolder,
    key: tuple,
    model,
    source: str,
    columns,
    *,
    seed: int,
    max_iter,
    tol,
    n_rows: int | None = None,
) -> Job:
    """One distributed run on the window's one job type. Its snapshots, made on request as for a
    fit here, compute sample labels on the workers. ``stop`` waits for a cluster still starting or
    a table still loading. ``model``: the in-memory model (for titles); the run's own is the
    distributed twin made in the job."""
    control = runner.RunControl(snapshots_on_request=True)

    def steps():
        return dask_fit_steps(
            holder,
            key,
            model.id,
            model.hp,
            source,
            columns,
            seed=seed,
            max_iter=max_iter,
            tol=tol,
            control=control,
            n_rows=n_rows,
        )

    return Job(job_id, "dask-fit", steps, control=control, model=model)


def distributed_export_steps(result, out_dir):
    """A Dask run's export (explorer.distributed.export: result.json and parameters.npz from
    here, assignments/ written by the workers) as a generator for the window's job."""
    from explorer import distributed

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return distributed.export(result, out_dir)
    yield  # a generator: the window's worker drives it in its thread


def is_distributed(result) -> bool:
    """Whether a FitResult was fitted on a Dask cluster (its data is a DistributedTable)."""
    return result is not None and hasattr(result.data, "parts") and hasattr(result.data, "client")
