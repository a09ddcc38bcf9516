"""The row hash behind the canonical row order (``explorer/models/_canonical.py``) in one numba
pass over the rows, in parallel chunks.

The numpy version took 0.22 s of a 0.31-0.38 s canonical order at 1,000,000 x 16 (two splitmix64
finalisers per column, each a dozen whole-array passes with temporaries): a sixth to a quarter of a
whole K-means fit there. The values are the same, bit for bit: for each row, h = 0, then for each
column j in order, with b the bits of the value as float64 plus 0.0 (-0.0 counted as +0.0) and
G = 0x9E3779B97F4A7C15, h ^= mix(b + j G); h = mix(h + G) (wrapping uint64 arithmetic, mix the
splitmix64 finaliser)."""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from explorer.models._parallel import call, claim
from explorer.models._splitmix import GOLDEN, mix

# Rows per chunk of the parallel pass (the hash of a row does not depend on the chunks).
_CHUNK = 65536


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE 754 bits of a float64 as a uint64 (``np.float64(x).view(np.uint64)``)."""
    if x != types.float64:
        return None
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@numba.njit(cache=True, nogil=True, parallel=True)
def _row_hashes(X, out, nw):
    """out[i] = the hash of row i of X (see the module docstring); ``nw`` threads take the
    chunks one at a time. No fastmath: x + 0.0 must turn -0.0 into +0.0."""
    N, D = X.shape
    n_chunks = (N + _CHUNK - 1) // _CHUNK
    counter = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(nw):
        while True:
            c = claim(counter)
            if c >= n_chunks:
                break
            for i in range(c * _CHUNK, min(N, (c + 1) * _CHUNK)):
                h = np.uint64(0)
                for j in range(D):
                    b = _float_bits(np.float64(X[i, j]) + 0.0) + np.uint64(j) * GOLDEN
                    h ^= mix(b)
                    h = mix(h + GOLDEN)
                out[i] = h


def row_hashes(X) -> np.ndarray:
    """(N,) uint64: a hash of each row's values as float64 (-0.0 counted as 0.0), so identical
    rows hash alike whatever their dtype, memory layout or position."""
    X = np.asarray(X)
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float64)
    N, D = X.shape
    out = np.zeros(N, dtype=np.uint64)
    if N and D:
        call(_row_hashes, (N + _CHUNK - 1) // _CHUNK, 4.0 * N * D, X, out)
    return out
