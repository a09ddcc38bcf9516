"""Parallel loops that tolerate a busy core (shared by every ``parallel=True`` kernel).

A desktop always has something else running. With numba's OpenMP layer a parallel loop over
``prange(C)`` hands each thread a fixed share of the C iterations and the call returns when the
last share is done, so a thread that the scheduler has put behind another process holds up the
whole step. Measured on the project's 2-core machine with one other process spinning on a core:
the Bernoulli mixture's step on the digits table took 7.9 ms on 2 threads against 0.96 ms on 1,
K-means on 200,000 x 8 rows 24 ms an iteration against 2 ms (bench/README.md, "Busy core").
Three causes, three remedies:

* **Waiting threads spin.** GNU OpenMP's idle threads busy-wait for a while before they sleep. A
  spinning thread is not woken when the next parallel loop starts, so on a shared core it gets
  the CPU only when the scheduler rotates (a tick, 4 ms), where a sleeping thread that is woken
  runs at once. ``OMP_WAIT_POLICY=PASSIVE`` (set below unless the user set it, before numba loads
  its threading layer) makes them sleep; it costs a futex wake-up (~50 us on this machine) per
  parallel loop, which :func:`workers` keeps away from small loops.
* **Fixed shares.** :func:`claim` hands out chunks one at a time from a shared counter (an atomic
  fetch-and-add), so a thread that runs slowly takes fewer chunks; with many more chunks than
  threads the last one to finish holds up the others by one small chunk, not half the work.
* **Threads for small work.** :func:`workers` picks the number of threads from the work's size:
  one thread (no wake-up, no wait) below ``MIN_WORK_PER_THREAD`` units a thread.

Results never depend on which thread ran a chunk or on the number of threads: a chunk always
covers the same rows, writes only its own accumulators, and the chunks are reduced in chunk order.

The pattern: the kernel takes the thread count ``nw`` as its last argument and the caller runs
it through :func:`call`, which sets numba's thread count for the call::

    @numba.njit(parallel=True)
    def kernel(..., nw):
        counter = np.zeros(1, dtype=np.int64)
        for _ in numba.prange(nw):
            c = claim(counter)
            while c < C:
                ...                     # chunk c (a function of its own where it is long)
                c = claim(counter)

    call(kernel, C, work, ...)

The loop cannot be a helper that takes the chunk's body: numba caches no kernel that takes a
function as an argument (it compiles it again in every process), and a kernel that iterates a
numba generator fails when loaded from the cache (measured, numba 0.6x). So each parallel kernel
writes these five lines, the same everywhere."""

from __future__ import annotations

import os

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

# Must be set before numba loads its OpenMP layer (at the first parallel kernel call): this module
# is imported by every module that defines a parallel kernel.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A second thread pays for itself from about this many units of work (a unit: one multiply-add of
# the kernel's inner loop, ~0.2-0.5 ns): ~0.1-0.3 ms of work against the ~50 us it costs to wake a
# sleeping thread and wait for it (bench/bench_numpy_steps.py, idle and with a busy core).
MIN_WORK_PER_THREAD = 400_000


@intrinsic
def _fetch_add(typingctx, counter, value):
    """Atomic ``old = counter[0]; counter[0] += value; return old`` on an int64 array."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None
    sig = types.int64(counter, types.int64)

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, signature.args[0], arr, [ir.Constant(ir.IntType(64), 0)]
        )
        return builder.atomic_rmw("add", ptr, args[1], "seq_cst")

    return sig, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def claim(counter):
    """The next unclaimed chunk index from ``counter`` (int64 (1,), zero before the loop)."""
    return _fetch_add(counter, np.int64(1))


_get_threads = _set_threads = None


def _thread_functions():
    """numba's get/set of the calling thread's thread count. The public functions check their
    argument and cost 5-10 us each on a loaded machine, more than a whole step on iris; the
    ctypes functions behind them ~1 us (numba's own, reached once the layer is loaded)."""
    global _get_threads, _set_threads
    if _get_threads is None:
        numba.get_num_threads()  # loads the threading layer
        try:
            from numba.np.ufunc import parallel as numba_parallel

            _get_threads = numba_parallel._get_num_threads
            _set_threads = numba_parallel._set_num_threads
        except (ImportError, AttributeError):  # another numba: the public ones
            _get_threads, _set_threads = numba.get_num_threads, numba.set_num_threads
    return _get_threads, _set_threads


def workers(n_chunks: int, work: float, available: int | None = None) -> int:
    """Threads for a parallel loop over ``n_chunks`` chunks costing ``work`` units in all: one per
    MIN_WORK_PER_THREAD units, at most one per chunk and at most numba's thread count (or
    ``available``)."""
    if available is None:
        available = numba.get_num_threads()
    return max(1, min(available, int(n_chunks), int(work // MIN_WORK_PER_THREAD)))


def call(kernel, n_chunks: int, work: float, *args):
    """``kernel(*args, nw)`` with numba's thread count set to nw = ``workers(n_chunks, work)`` for
    the call (numba's setting is per calling thread; it is put back afterwards). The kernel's
    parallel loop is ``prange(nw)`` with the chunks handed out by :func:`claim`.

    The thread count is set here, not inside the kernel: ``numba.set_num_threads`` called in a
    jitted function keeps it from numba's cache (it holds a ctypes pointer)."""
    get, put = _thread_functions()
    prev = get()
    nw = workers(n_chunks, work, prev)
    if nw == prev:
        return kernel(*args, nw)
    put(nw)
    try:
        return kernel(*args, nw)
    finally:
        put(prev)
