"""Time ``load_table`` on a 1,000,000-row x 10-column numeric CSV against plain pandas and numpy.

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_load_csv.py [--rows 1000000] [--cols 10] [--repeat 3]

Writes the file to a temporary directory, then times, in the same run and on the same file,
``explorer.data.load_table`` (sniffing, header detection, validation, sha256 included),
``pandas.read_csv`` (C engine, no checks) and ``numpy.loadtxt``; prints the best of ``--repeat``
runs for each and the ratios to ``load_table``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _args import options

from explorer.data import load_table


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    args = options(__doc__, rows=1_000_000, cols=10, repeat=3).parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.cols))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        t0 = time.perf_counter()
        header = ",".join(f"x{j}" for j in range(args.cols))
        np.savetxt(path, X, delimiter=",", fmt="%.6g", header=header, comments="")
        size_mb = path.stat().st_size / 1e6
        print(
            f"wrote {args.rows:,} x {args.cols} ({size_mb:.0f} MB) in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        d = load_table(path)
        ref = pd.read_csv(path).to_numpy()
        assert d.X.shape == (args.rows, args.cols) and np.array_equal(d.X, ref)

        t_ours = best_time(lambda: load_table(path), args.repeat)
        t_pd = best_time(lambda: pd.read_csv(path, engine="c").to_numpy(), args.repeat)
        t_np = best_time(lambda: np.loadtxt(path, delimiter=",", skiprows=1), args.repeat)
    print(f"load_table      {t_ours:7.2f} s")
    print(f"pandas.read_csv {t_pd:7.2f} s   load_table / pandas = {t_ours / t_pd:.2f}")
    print(f"numpy.loadtxt   {t_np:7.2f} s   load_table / numpy  = {t_ours / t_np:.2f}")


if __name__ == "__main__":
    main()
