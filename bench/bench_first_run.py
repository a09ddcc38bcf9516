"""First-run latency: how long a new user waits for the first fit of each model.

From a given checkout (default: this one): empty numba's on-disk caches (every ``__pycache__``
``*.nbi``/``*.nbc`` under ``explorer/``), time ``explorer warmup`` (what ``make install`` runs),
then time the first ``explorer fit`` of every model on its sample data, each as a fresh
subprocess (wall time, Python start-up and imports included). Target: under 3 s each after the
warm-up. ``--cold`` also times each first fit with an empty cache and no warm-up (what a user
waited before), emptying the cache before each model.

    python bench/bench_first_run.py [--checkout DIR] [--python PY] [--cold]

A reference measured in the same run, ``python -c "import explorer.cli"``, shows how much of each
figure is start-up. The machine's load inflates every figure: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _args import flags  # noqa: E402
from helpers import first_fit_args  # noqa: E402

# model id -> the arguments of its first fit (data relative to the checkout), with its labels
FIRST_FITS = first_fit_args(labelled=True)


def empty_caches(checkout: Path) -> int:
    n = 0
    for pattern in ("*.nbi", "*.nbc"):
        for f in (checkout / "explorer").rglob(pattern):
            f.unlink()
            n += 1
    return n


CPU: list[float] = []  # CPU seconds (user + system) of the last timed command


def timed(cmd: list[str], checkout: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of ``cmd``; its CPU time (less sensitive to the machine's load) goes to CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[:] = [after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime]
    return wall, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", type=Path, default=ROOT)
    ap.add_argument(
        "--python",
        default=None,
        help="interpreter (default: CHECKOUT/.venv/bin/python if present, else this)",
    )
    flags(
        ap,
        cold="also time each first fit with an empty cache and no warm-up",
        keep_cache="do not empty the caches first (time the fits of an installed checkout)",
    )
    ns = ap.parse_args()
    checkout = ns.checkout.resolve()
    py = ns.python or (
        str(checkout / ".venv/bin/python")
        if (checkout / ".venv/bin/python").exists()
        else sys.executable
    )
    env = dict(os.environ, PYTHONPATH=str(checkout))
    env.pop("NUMBA_CACHE_DIR", None)  # the cache next to the sources, as users have it
    cli = [py, "-m", "explorer.cli"]
    print(
        f"checkout {checkout}, python {py}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    start_up, r = timed([py, "-c", "import explorer.cli, explorer.runner, numba"], checkout, env)
    print(f"reference: python start-up + imports {start_up:.2f} s wall, {CPU[0]:.2f} s CPU")

    cold = {}
    if ns.cold:
        for model, args in FIRST_FITS.items():
            empty_caches(checkout)
            cold[model], r = timed(cli + ["fit", model, *args, "--quiet"], checkout, env)
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
            print(
                f"cold first fit (compiles): {model:20s} {cold[model]:6.2f} s wall, "
                f"{CPU[0]:6.2f} s CPU",
                flush=True,
            )

    if not ns.keep_cache:
        n = empty_caches(checkout)
        print(f"emptied numba caches: {n} files")
        wall, r = timed(cli + ["warmup"], checkout, env)
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 1
        print(r.stderr.rstrip())
        print(f"explorer warmup (empty cache): {wall:.1f} s wall, {CPU[0]:.1f} s CPU")

    print(
        f"{'model':20s} {'first fit after warm-up':>37s} {'same again':>11s}"
        + ("   cold (no warm-up)" if cold else "")
    )
    worst = 0.0
    for model, args in FIRST_FITS.items():
        walls = []
        for _ in range(2):  # the first fit, then the same command again (nothing left to load)
            wall, r = timed(cli + ["fit", model, *args, "--quiet"], checkout, env)
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
            walls.append(wall)
            if len(walls) == 1:
                cpu = CPU[0]
                fit_s = next(
                    (ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("time:")), "?"
                )
        worst = max(worst, walls[0])
        extra = f"   {cold[model]:6.2f} s" if cold else ""
        print(
            f"{model:20s} {walls[0]:6.2f} s wall {cpu:5.2f} s CPU (fit {fit_s:>6s} s) "
            f"{walls[1]:6.2f} s{extra}",
            flush=True,
        )
    print(
        f"slowest first fit after warm-up: {worst:.2f} s (target < 3 s; python start-up and "
        f"imports alone took {start_up:.2f} s in this run)"
    )
    return 0 if worst < 3.0 else 1


if __name__ == "__main__":
    sys.exit(main())
