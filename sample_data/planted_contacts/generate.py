"""Regenerate counts.csv and nodes.csv: a planted temporal contact network drawn from the
dynamic-exposure model itself (so its ground truth is known), 90 nodes in 3 affinity groups,
12 snapshots, seed 1.

    PYTHONPATH=. python sample_data/planted_contacts/generate.py
"""

from pathlib import Path

import numpy as np

from explorer.data.synthetic import sample_network

HERE = Path(__file__).resolve().parent
N, K, T = 90, 3, 12

rng = np.random.default_rng(1)
group = np.arange(N) % K  # affinity group: the ground truth
u = np.full((N, K), 0.04)
u[np.arange(N), group] = 0.92
w = 2.0 * np.eye(K) + 0.02  # contacts mostly within a group
mu = np.full((N, K), 0.05)  # exposure groups, independent of the affinity
mu[np.arange(N), rng.permutation(N) % K] = 0.9
t, i, j, c = sample_network(u, w, mu, T, rng=rng)
ids = [f"p{k:02d}" for k in range(N)]
with open(HERE / "counts.csv", "w") as f:
    f.write("t,i,j,count\n")
    for a, b, d, e in zip(t, i, j, c):
        f.write(f"{a},{ids[b]},{ids[d]},{int(e)}\n")
with open(HERE / "nodes.csv", "w") as f:
    f.write("node,group\n")
    for k in range(N):
        f.write(f"{ids[k]},g{group[k]}\n")
