"""The numba float formatter against Python's repr (the export's CSV and GraphML use it)."""

import numpy as np

from explorer.textformat import float_reprs


def _check(values):
    values = np.asarray(values, dtype=np.float64)
    got = float_reprs(values)
    want = [repr(float(v)) for v in values.tolist()]
    bad = [(w, g) for w, g in zip(want, got) if w != g]
    assert not bad, bad[:10]


def test_special_and_boundary_values():
    _check(
        [
            0.0,
            -0.0,
            np.nan,
            -np.nan,
            np.inf,
            -np.inf,
            1.0,
            -1.0,
            2.0,
            0.5,
            0.1,
            0.2,
            0.3,
            1e-4,
            9.999999999999999e-05,
            1e-5,
            1e16,
            9999999999999998.0,
            1e15,
            1e22,
            1e23,
            123456789012345.6,
            5e-324,
            1e-323,
            2.2250738585072014e-308,
            2.225073858507201e-308,
            1.7976931348623157e308,
            100.0,
            1e7,
            12345678.0,
            0.30000000000000004,
            1 / 3,
            2 / 3,
            1e-300,
            1.5e-100,
            5e-5,
            1.0000000000000002,
            0.9999999999999999,
            4.35,
            2.5,
            1e21,
            9007199254740993.0,
            9007199254740992.0,
        ]
    )


def test_powers_and_short_decimals():
    e = np.arange(-1074, 1024)
    _check(np.ldexp(1.0, e))
    _check(np.ldexp(1.0, e[:-1]) * 1.5)
    _check(
        np.array(
            [float(f"{m}e{x}") for m in (1, 2, 5, 9, 12, 123, 999, 4321) for x in range(-330, 309)]
        )
    )
    _check(np.arange(-2000, 2000) / 8.0)
    _check(np.arange(0, 10000) / 1000.0)


def test_random_bits_and_probabilities():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**63 - 1, size=300_000, dtype=np.int64)
    v = bits.view(np.float64)
    _check(v[np.isfinite(v)])
    _check(-v[np.isfinite(v)][:50_000])
    _check(rng.dirichlet(np.full(50, 0.05), size=4000).ravel())
    _check(rng.random(200_000))
    _check(rng.random(100_000).astype(np.float32))
