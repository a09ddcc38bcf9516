"""splitmix64's finaliser and golden-ratio increment, shared by the kernels that hash integers
(the held-out cells of ``_dynamic_kernels.py``, the row hash of ``_row_hash.py``).

Wrapping uint64 arithmetic; ``_canonical.py`` keeps its own numpy version (whole arrays)."""

from __future__ import annotations

import numba
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@numba.njit(cache=True, nogil=True, inline="always")
def mix(z):
    """splitmix64's finaliser (a bijection of uint64 with good avalanche)."""
    z ^= z >> _S30
    z *= _MIX1
    z ^= z >> _S27
    z *= _MIX2
    z ^= z >> _S31
    return z
