"""Write counts.csv: 300 rows of 3 counts from two Poisson components (weights 0.4 and 0.6,
rates (1, 4, 2) and (6, 1, 8)), the data the walkthrough fits. Run once; the file is committed."""

import numpy as np

rng = np.random.default_rng(2026)
rates = np.array([[1.0, 4.0, 2.0], [6.0, 1.0, 8.0]])
z = (rng.random(300) < 0.6).astype(int)
X = rng.poisson(rates[z])
with open("counts.csv", "w") as f:
    f.write("visits,calls,orders,source\n")
    for row, k in zip(X, z):
        f.write(",".join(str(int(v)) for v in row) + f",{'ab'[k]}\n")
