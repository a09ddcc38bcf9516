"""Time the loaders on wide files and hostile ones: the audit's loader cases (issue 22, items 1, 4,
5, 6, 16).

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_load_wide.py [--columns 10000,50000,100000] [--repeat 1]

Writes, in a temporary directory: CSVs of 3 rows and ``--columns`` columns, ``.npy`` arrays of 5
rows and 10,000 / 40,000 columns, and the hostile files (a ``.npy`` whose header claims
(2, 10^9) float32, a 2.5 GB sparse CSV, 5 GB sparse ``.parquet`` / ``.npy``, a 200 MB one-field
CSV, a FIFO). Prints the seconds per load (and, for the hostile files, the peak bytes Python allocated,
by tracemalloc), and how the time grows with the columns (linear: time / columns about constant). Loads are timed in
this process, after the imports; the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from explorer.data import DataError, load


def timed(path, trace: bool = False) -> tuple[float, float, str]:
    """(seconds, peak MiB allocated or NaN, what happened); ``trace`` measures the peak with
    tracemalloc, which slows allocation-heavy parsing: the wide files are timed without it."""
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        d = load(path)
        what = f"loaded {d.describe()}"
    except DataError as e:
        what = f"refused: {e.problem[:90]}"
    dt = time.perf_counter() - t0
    peak = float("nan")
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return dt, peak, what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--columns", default="10000,50000,100000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-hostile", action="store_true", help="only the wide files")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for D in (int(c) for c in args.columns.split(",")):
            p = tmp / f"wide{D}.csv"
            with open(p, "w") as fh:
                fh.write(",".join(f"c{j}" for j in range(D)) + "\n")
                for _ in range(3):
                    fh.write(",".join(map(str, rng.integers(0, 10, D))) + "\n")
            best = min(timed(p)[0] for _ in range(args.repeat))
            print(
                f"load average {os.getloadavg()[0]:.2f}; CSV 3 x {D:>7,} ({p.stat().st_size / 1e6:.1f} MB): {best:7.2f} s, "
                f"{best / D * 1e6:6.1f} us a column"
            )
        for D in (10_000, 40_000):
            p = tmp / f"wide{D}.npy"
            np.save(p, rng.random((5, D)))
            best = min(timed(p)[0] for _ in range(args.repeat))
            print(f".npy 5 x {D:>7,}: {best:7.2f} s")
        if args.no_hostile:
            return
        cases = []
        lie = tmp / "lie.npy"
        with open(lie, "wb") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f4", "fortran_order": False, "shape": (2, 10**9)}
            )
            fh.write(bytes(64))
        cases.append(("npy header claims (2, 1e9)", lie))
        for name, size in (
            ("sparse.csv", 2500 * 2**20),
            ("sparse.parquet", 5 * 2**30),
            ("sparse.npy", 5 * 2**30),
        ):
            with open(tmp / name, "wb") as fh:
                fh.truncate(size)
            cases.append((f"{size / 1e9:.1f} GB sparse {name.split('.')[1]}", tmp / name))
        field = tmp / "field.csv"
        with open(field, "wb") as fh:
            fh.write(b"a,b\n1,2\n3,")
            for _ in range(200):
                fh.write(b"7" * 1_000_000)
            fh.write(b"\n")
        cases.append(("200-million-character field", field))
        if hasattr(os, "mkfifo"):
            os.mkfifo(tmp / "fifo.csv")
            cases.append(("FIFO", tmp / "fifo.csv"))
        for label, p in cases:
            dt, peak, what = timed(p, trace=True)
            print(f"{label:32s} {dt:7.3f} s, peak {peak:7.1f} MiB allocated: {what}")


if __name__ == "__main__":
    main()
