"""The runner's throttling and pausing in real time (run by hand, not a test).

    .venv/bin/python bench/bench_runner_throttle.py [--interval 0.05] [--delay 0.002] [--steps 200]

tests/test_runner.py checks the same rules against a fake clock with exact counts; this script
measures them on the wall clock, where a busy machine stretches every figure:

* reports: a fit of ``--steps`` steps sleeping ``--delay`` s each, a report at most every
  ``--interval`` s: the number of reports, the shortest gap between two (never below the interval
  but for the last iteration's and the final one), and the reports a second;
* delayed request: a snapshot asked for 0.2 s after the first one: the seconds until it came;
* pause: the seconds a paused fit waited and the steps it took meanwhile (0).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_models import ShrinkModel  # noqa: E402
from helpers import noise_fit, noise_table  # noqa: E402

from explorer import runner  # noqa: E402


def reports(interval: float, delay: float, steps: int) -> None:
    calls = []
    res = noise_fit(
        rate=0.001, delay=delay, max_iter=steps, callback=calls.append, snapshot_interval=interval
    )
    gaps = np.diff([p.elapsed_s for p in calls[:-2]])
    print(
        f"reports: {len(calls)} in {res.total_s:.3f} s over {res.iterations} steps "
        f"({len(calls) / res.total_s:.1f}/s; at most {1 / interval:.0f}/s + 2 asked); "
        f"shortest gap {gaps.min() * 1e3:.1f} ms (interval {interval * 1e3:.0f} ms)"
    )


def delayed_request(delay: float) -> None:
    control = runner.RunControl(snapshots_on_request=True)
    got = []

    def consumer(p):
        if p.snapshot is not None and not p.done:
            got.append(time.monotonic())
            if len(got) == 1:
                control.request_snapshot(0.2)

    watched = dict(callback=consumer, snapshot_interval=0.0, control=control)
    noise_fit(rate=0.001, delay=max(delay, 0.01), max_iter=60, **watched)
    print(
        f"delayed request: asked for 200 ms, came after {(got[1] - got[0]) * 1e3:.1f} ms "
        f"({len(got)} snapshots)"
    )


def pause() -> None:
    control = runner.RunControl()
    steps = []

    class Counting(ShrinkModel):
        def step(self):
            steps.append(1)
            return super().step()

    control.pause()
    th = threading.Thread(
        target=lambda: runner.fit(
            Counting, noise_table(), K=2, rate=0.01, max_iter=40, tol=0, control=control
        )
    )
    t0 = time.monotonic()
    th.start()
    th.join(0.3)
    waited = time.monotonic() - t0
    taken = len(steps)
    control.resume()
    th.join(10)
    print(
        f"pause: {waited * 1e3:.0f} ms paused, {taken} steps taken meanwhile; then "
        f"{len(steps)} steps after resume"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--delay", type=float, default=0.002)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    reports(args.interval, args.delay, args.steps)
    delayed_request(args.delay)
    pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
