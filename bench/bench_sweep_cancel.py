"""How fast `explorer sweep` stops (run by hand, not a test; the tests assert counts).

    .venv/bin/python bench/bench_sweep_cancel.py [--rows 20000] [--jobs 2] [--repeat 2]

Starts `explorer sweep gmm` of 8 fits (K 2..5, 2 seeds) that would each run for about an hour
(EM on structureless data, tol 0) in its own process group, waits until its workers are iterating,
then stops it four ways and measures, from the signal, the seconds until the CLI exits and until
every process of the sweep (workers, resource tracker) is gone:

* ``api``: ``SweepCancel.cancel()`` on ``iter_sweep`` in this process (no CLI);
* ``sigint-parent``: SIGINT to the sweep's process alone;
* ``sigint-group``: SIGINT to its process group (a terminal's Ctrl-C);
* ``sigkill``: SIGKILL of the parent (then only the workers' parent-death handling acts).

Linux only (reads /proc). Prints the load average beside the figures.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _args import options

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import cpu_ticks, descendants, running, sweep_spec  # noqa: E402


def wait_gone(pids, t0, limit=300.0) -> float:
    while time.perf_counter() - t0 < limit:
        if not any(running(p) for p in pids):
            return time.perf_counter() - t0
        time.sleep(0.02)
    return float("nan")


def cli_case(data: Path, out: Path, jobs: int, how: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explorer.cli",
            "sweep",
            "gmm",
            str(data),
            "--K",
            "2:5",
            "--seeds",
            "2",
            "--jobs",
            str(jobs),
            "--tol",
            "0",
            "--max-iter",
            "100000000",
            "--out",
            str(out),
        ],
        env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        kids = [
            p
            for p in descendants(proc.pid)
            if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        if len(kids) >= jobs and all(cpu_ticks(p) > 100 for p in kids):
            break
        time.sleep(0.1)
    everyone = descendants(proc.pid)
    t0 = time.perf_counter()
    if how == "sigint-parent":
        os.kill(proc.pid, signal.SIGINT)
    elif how == "sigint-group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.kill()
    proc.wait()
    exited = time.perf_counter() - t0
    return exited, wait_gone(everyone, t0)


def api_case(data: Path, out: Path, jobs: int) -> tuple[float, float]:
    import multiprocessing as mp

    from explorer import sweep

    spec = sweep_spec(
        "gmm", data, "table", (2, 3, 4, 5), (0, 1), tol=0.0, max_iter=10**8, out_dir=str(out)
    )
    cancel = sweep.SweepCancel()
    t0 = []

    def press():
        kids = []
        while len(kids) < jobs or not all(cpu_ticks(p.pid) > 100 for p in kids):
            kids = mp.active_children()
            kids = [p for p in kids if p.name.startswith("SpawnProcess")]
            time.sleep(0.1)
        t0.append(time.perf_counter())
        cancel.cancel()

    threading.Thread(target=press, daemon=True).start()
    for _ in sweep.iter_sweep(spec, jobs=jobs, cancel=cancel):
        pass
    end = time.perf_counter() - t0[0]
    return end, end


def main() -> int:
    args = options(__doc__, rows=20000, jobs=2, repeat=2).parse_args()
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "noise.csv"
    X = np.random.default_rng(0).normal(size=(args.rows, 5))
    np.savetxt(data, X, delimiter=",", header="a,b,c,d,e", comments="")
    print(f"{args.rows} rows, jobs {args.jobs}, load average {os.getloadavg()}")
    for i in range(args.repeat):
        for how in ("api", "sigint-parent", "sigint-group", "sigkill"):
            out = tmp / f"{how}-{i}"
            if how == "api":
                exited, gone = api_case(data, out, args.jobs)
            else:
                exited, gone = cli_case(data, out, args.jobs, how)
            print(f"{how:>14}: exit after {exited:6.2f} s, every process gone after {gone:6.2f} s")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
