"""The parallel-loop helpers every parallel kernel uses (explorer/models/_parallel.py): chunks
handed out one at a time, each exactly once, and the thread count chosen from the work's size."""

import numba
import numpy as np

from explorer.models import _parallel
from explorer.models._parallel import call, claim, workers


@numba.njit(parallel=True)
def _count_claims(n_chunks, seen, counter, nw):
    for _ in numba.prange(nw):
        while True:
            c = claim(counter)
            if c >= n_chunks:
                break
            seen[c] += 1


def test_every_chunk_claimed_once():
    for n_chunks in (1, 2, 7, 64, 1000):
        seen = np.zeros(n_chunks, dtype=np.int64)
        counter = np.zeros(1, dtype=np.int64)
        call(_count_claims, n_chunks, 1e12, n_chunks, seen, counter)
        np.testing.assert_array_equal(seen, 1)
        # each thread stops after its one claim past the end
        assert n_chunks < counter[0] <= n_chunks + numba.get_num_threads()


def test_thread_count_from_work_size():
    big = 1e12
    assert workers(1, big) == 1  # one chunk: one thread
    assert workers(64, _parallel.MIN_WORK_PER_THREAD - 1) == 1
    assert workers(64, big) == numba.get_num_threads()
    assert workers(64, 2 * _parallel.MIN_WORK_PER_THREAD) == min(2, numba.get_num_threads())


def test_call_restores_the_thread_count():
    before = numba.get_num_threads()
    seen = np.zeros(3, dtype=np.int64)
    call(
        _count_claims, 3, 1.0, 3, seen, np.zeros(1, dtype=np.int64)
    )  # small work: run on one thread
    assert numba.get_num_threads() == before


def test_threads_wait_asleep():
    # Spinning idle threads get a shared core only when the scheduler rotates (bench/README.md,
    # "Busy core"); the kernels' module asks OpenMP to let them sleep unless the user chose.
    import os

    assert os.environ.get("OMP_WAIT_POLICY")
