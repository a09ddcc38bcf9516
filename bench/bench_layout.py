"""Benchmark of the force-directed layout (``explorer.layout``, ForceAtlas2 + Barnes-Hut).

Run by hand (not in CI), one network at a time or all::

    .venv/bin/python bench/bench_layout.py [n20000] [n100000] [n2000] [panzoom] [--iterations I]
        [--seed S]

* ``n2000`` / ``n20000``: the planted overlapping networks in ../shared/benchmarks/networks/
  (targets: n20000 in at most 10 s on 2 cores);
* ``n100000``: a planted partition with 100,000 nodes, K = 100, about 1,000,000 links (expected
  in-block degree 16, across 4; ``explorer.data.synthetic.planted_partition``, seed 0; target at
  most 60 s on 2 cores).

* ``panzoom``: the drawn 20,000-node network (its layout from the cache or computed first) in
  the Network panel, offscreen at 900 x 700: seconds for ``set_layout`` and for a recolour
  (``show_snapshot``), then 3 s of pan and zoom (the view range changed every 16 ms, the
  event loop repainting) while a 5 ms QTimer records the event loop's gaps (bench_gui_responsiveness's
  method; the panel hides its links while the view moves and draws them again 200 ms after);
  target: the longest gap under 100 ms.

Each network runs in its own process (peak memory is ru_maxrss per network); the layout cache is
off. Printed per network: nodes, links, iterations, wall and CPU seconds of the layout (the numba
kernels compiled beforehand by a tiny layout, so compile time is not counted), seconds per
iteration, peak memory (MiB) of the process and its resident set before the layout, the
community distance ratio (mean within-community distance / mean between-community distance,
primary community; lower is better), and the 1-minute load average (the machine is shared).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NETS = Path(os.environ.get("EXPLORER_SHARED", ROOT.parent / "shared")) / "benchmarks" / "networks"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import peak_mib, vm  # noqa: E402


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def primary_labels(path: Path, node_ids) -> np.ndarray:
    first = {}
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if parts:
                first[parts[0]] = parts[1]
    return np.array([first.get(str(i), "?") for i in node_ids])


def load(name: str):
    from explorer.data import load_network
    from explorer.data.synthetic import planted_partition

    if name in ("n2000", "n20000"):
        k = {"n2000": 10, "n20000": 50}[name]
        stem = NETS / f"oppm_{name}_k{k}"
        data = load_network(f"{stem}.tsv")
        return data, primary_labels(Path(f"{stem}_gt_nodes.tsv"), data.node_ids)
    if name == "n100000":
        n, K = 100_000, 100
        size = n // K
        data = planted_partition(n, K, p_in=16 / (size - 1), p_out=4 / (n - size), seed=0)
        return data, np.asarray(data.labels)
    raise SystemExit(f"unknown network {name!r} (n2000, n20000, n100000)")


def one(name: str, iterations: int | None, seed: int) -> dict:
    from explorer import layout as L
    from explorer.data.synthetic import planted_partition

    L.compute_layout(
        planted_partition(50, 2, 0.3, 0.05, seed=1), L.LayoutSettings(iterations=2), use_cache=False
    )  # compile
    t = time.perf_counter()
    data, truth = load(name)
    load_s = time.perf_counter() - t
    rss_before = vm("VmRSS")
    settings = L.LayoutSettings(seed=seed, iterations=iterations)
    c0, t0 = cpu_s(), time.perf_counter()
    xy = L.compute_layout(data, settings, use_cache=False)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    its = settings.resolved_iterations(data.n_nodes)
    return {
        "network": name,
        "nodes": data.n_nodes,
        "links": data.n_edges,
        "load_s": round(load_s, 2),
        "layout_wall_s": round(wall, 2),
        "layout_cpu_s": round(cpu, 2),
        "finest_level_iterations": its,
        "rss_before_layout_MiB": round(rss_before, 1),
        "peak_MiB": round(peak_mib(), 1),
        "distance_ratio": round(L.community_distance_ratio(xy, truth), 4),
        "numba_threads": int(__import__("numba").get_num_threads()),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def panzoom() -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from explorer import layout as L
    from explorer.gui.plots.network import NetworkPanel

    app = QApplication.instance() or QApplication([])
    data, truth = load("n20000")
    xy = L.compute_layout(data)
    codes = np.unique(truth, return_inverse=True)[1].ravel()
    K = int(codes.max()) + 1
    m = np.full((data.n_nodes, K), 0.2 / (K - 1))
    m[np.arange(data.n_nodes), codes] = 0.8
    m[::10] = 1.0 / K  # one node in ten mixed: rings drawn
    snap = {"labels": m.argmax(1), "memberships": m}
    panel = NetworkPanel()
    panel.resize(900, 700)
    panel.show()
    panel.set_data(data)
    t = time.perf_counter()
    panel.set_layout(xy)
    app.processEvents()
    set_layout_s = time.perf_counter() - t
    t = time.perf_counter()
    panel.show_snapshot(snap, None)
    app.processEvents()
    recolour_s = time.perf_counter() - t
    vb = panel.plot.vb
    (x0, x1), (y0, y1) = vb.viewRange()
    ticks: list[float] = []
    tick = QTimer()
    tick.setInterval(5)
    tick.timeout.connect(lambda: ticks.append(time.perf_counter()))
    frames = [0]

    def move():
        k = frames[0]
        frames[0] += 1
        f = 1.0 - 0.4 * abs(math.sin(k / 30))  # zoom in and out
        dx = 0.2 * (x1 - x0) * math.sin(k / 17)  # pan
        cx, cy, hw, hh = (x0 + x1) / 2 + dx, (y0 + y1) / 2, f * (x1 - x0) / 2, f * (y1 - y0) / 2
        vb.setRange(xRange=(cx - hw, cx + hw), yRange=(cy - hh, cy + hh), padding=0)
        # (the range change schedules the repaint; the loop paints once per frame)

    paints = [0]
    paint = panel.nodes.paint

    def counted_paint(*args):
        paints[0] += 1
        return paint(*args)

    panel.nodes.paint = counted_paint
    mover = QTimer()
    mover.setInterval(16)
    mover.timeout.connect(move)
    tick.start()
    mover.start()
    loop = QEventLoop()
    QTimer.singleShot(3000, loop.quit)
    loop.exec()
    tick.stop()
    mover.stop()
    gaps = np.diff(ticks)
    return {
        "bench": "panzoom n20000",
        "nodes_drawn": len(panel.nodes.data),
        "paints": paints[0],
        "links_drawn": len(panel._pairs),
        "set_layout_s": round(set_layout_s, 3),
        "recolour_s": round(recolour_s, 3),
        "frames": frames[0],
        "longest_gap_ms": round(1e3 * gaps.max(), 1),
        "p95_gap_ms": round(1e3 * np.percentile(gaps, 95), 1),
        "median_gap_ms": round(1e3 * np.median(gaps), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _options(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Network names and ``--name value`` options."""
    names, opts, k = [], {}, 0
    while k < len(argv):
        if argv[k].startswith("--"):
            if k + 1 >= len(argv):
                raise SystemExit(f"{argv[k]} needs a value")
            opts[argv[k]] = argv[k + 1]
            k += 2
        else:
            names.append(argv[k])
            k += 1
    return names, opts


def main(argv: list[str]) -> None:
    names, opts = _options(argv)
    iterations = int(opts["--iterations"]) if "--iterations" in opts else None
    seed = int(opts.get("--seed", 0))
    if os.environ.get("_BENCH_LAYOUT_CHILD"):
        print(json.dumps(panzoom() if names[0] == "panzoom" else one(names[0], iterations, seed)))
        return
    for name in names or ["n20000", "n100000"]:
        env = dict(os.environ, _BENCH_LAYOUT_CHILD="1")
        child = [a for kv in opts.items() for a in kv]
        out = subprocess.run(
            [sys.executable, __file__, name, *child],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(out.returncode)
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
