"""Degenerate states are never called converged (issue 22, item 7).

Every model reports its degenerate states through one hook, ``model.degeneracy()``, which the
runner consults on the state it returns: the stop reason is then ``degenerate: ...``, the fit is not
converged, the note says why, and ``explorer fit`` exits 3. Each case below ended "converged", exit
0, before (gmm K = 3 on identical rows: log-likelihood +599; kmeans: one cluster in use, three
identical centres; dynamic-exposure with a count of 1e300: a trace of [0.0, 0.0]).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import table, write

from explorer import cli, runner
from explorer.data import load_table, load_temporal
from explorer.models import get_model

IDENTICAL = np.tile([[1.0, 2.0]], (50, 1))
TWO_POINTS = np.array([[0.0, 0.0]] * 25 + [[1.0, 1.0]] * 25)


def constant_column():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    X[:, 1] = 5.0
    return X


def csv_text(X, names):
    return (
        ",".join(names)
        + "\n"
        + "\n".join(",".join(repr(float(v)) for v in row) for row in X)
        + "\n"
    )


# model id, data, hyperparameters, what the stop reason must say
TABLE_CASES = [
    ("gmm", IDENTICAL, {"K": 3}, "component 1 sits on a single point"),
    ("gmm", TWO_POINTS, {"K": 3}, "the data have only 2 distinct rows"),
    ("gmm", TWO_POINTS, {"K": 2}, "component 1 sits on a single point"),
    ("gmm", constant_column(), {"K": 2}, "no spread along column 'c1'"),
    ("kmeans", IDENTICAL, {"K": 3}, "K = 3 asked, 1 in use"),
    ("kmedians", IDENTICAL, {"K": 3}, "K = 3 asked, 1 in use"),
    ("fuzzy-cmeans", IDENTICAL, {"K": 3}, "centres 1, 2 and 3 coincide"),
    ("fuzzy-cmeans", IDENTICAL, {"K": 3, "harden": True}, "K = 3 asked, 1 in use"),
    ("bernoulli-mixture", np.zeros((40, 5)), {"K": 3}, "components 1, 2 and 3 coincide"),
    ("bayes-gmm", IDENTICAL, {"K": 3}, "components 1, 2 and 3 coincide"),
    ("exponential-mixture", IDENTICAL, {"K": 3}, "components 1, 2 and 3 coincide"),
]


@pytest.mark.parametrize(
    "model_id, X, hp, says", TABLE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TABLE_CASES)]
)
def test_degenerate_table_fit_is_reported_by_the_runner(model_id, X, hp, says):
    res = runner.fit(get_model(model_id), table(X), seed=0, **hp)
    assert res.stop_reason.startswith("degenerate: "), res.stop_reason
    assert says in res.stop_reason, res.stop_reason
    assert not res.converged
    assert any(n.startswith("degenerate state: ") for n in res.notes)
    # every restart of a data set this degenerate is degenerate
    assert all(r["stop_reason"].startswith("degenerate") for r in res.restarts)


@pytest.mark.parametrize(
    "model_id, X, hp, says", TABLE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TABLE_CASES)]
)
def test_degenerate_table_fit_exits_3_with_the_note(tmp_path, capsys, model_id, X, hp, says):
    path = write(tmp_path, "d.csv", csv_text(X, [f"c{j}" for j in range(X.shape[1])]))
    flags = []
    for k, v in hp.items():
        flag = f"--{k.replace('_', '-')}"
        flags += [flag] if v is True else [flag, str(v)]
    code = cli.main(["fit", model_id, str(path), "--quiet", *flags])
    out, err = capsys.readouterr()
    assert code == 3, (out, err)
    assert "converged: false" in out and "stop reason: degenerate: " in out
    assert "note: degenerate state: " in err and says in err
    assert err.strip().splitlines()[-1] == (
        "explorer: error: the fit gave no usable state (degenerate); see the notes above"
    )


def test_gmm_positive_likelihood_from_the_floor_is_what_is_flagged():
    """The constant column's +log-likelihood comes from reg_covar alone: halving reg_covar raises
    it (unbounded), which is why the state is degenerate; dropping the column gives a sound fit."""
    X = constant_column()
    a = runner.fit(get_model("gmm"), table(X), seed=0, K=2, reg_covar=1e-6)
    b = runner.fit(get_model("gmm"), table(X), seed=0, K=2, reg_covar=0.5e-6)
    assert b.final_objective > a.final_objective + 0.3 * 100  # ~ N/2 log 2 more
    sound = runner.fit(get_model("gmm"), table(X[:, :1]), seed=0, K=2)
    assert not sound.stop_reason.startswith("degenerate") and sound.converged


def test_dynamic_exposure_unresolved_objective_is_degenerate(tmp_path, capsys):
    """One count of 1e300: the log-likelihood's terms reach 6.9e302 and it came out as 0.0 twice,
    'converged'. float64 cannot resolve it: degenerate, exit 3."""
    path = write(
        tmp_path, "c.csv", "t,i,j,count\n0,a,b,1e300\n0,b,c,2\n1,a,c,1\n1,c,d,3\n2,a,d,1\n"
    )
    data = load_temporal(path)
    res = runner.fit(
        get_model("dynamic-exposure"), data, seed=0, K_aff=1, K_exp=1, heldout_fraction=0.0
    )
    assert res.stop_reason.startswith("degenerate: the counts reach 1e+300"), res.stop_reason
    assert not res.converged
    code = cli.main(
        ["fit", "dynamic-exposure", str(path), "--quiet", "--K-aff", "1", "--K-exp", "1"]
    )
    out, err = capsys.readouterr()
    assert code == 3 and "stop reason: degenerate: the counts reach 1e+300" in out
    # ordinary counts: sound
    ok = write(tmp_path, "ok.csv", "t,i,j,count\n0,a,b,7\n0,b,c,2\n1,a,c,1\n1,c,d,3\n2,a,d,1\n")
    res = runner.fit(
        get_model("dynamic-exposure"),
        load_temporal(ok),
        seed=0,
        K_aff=1,
        K_exp=1,
        heldout_fraction=0.0,
    )
    assert not res.stop_reason.startswith("degenerate")


@pytest.mark.parametrize(
    "model_id, name, opts, hp",
    [
        ("kmeans", "iris.csv", {"labels": "species"}, {"K": 3}),
        ("kmedians", "iris.csv", {"labels": "species"}, {"K": 3}),
        ("fuzzy-cmeans", "iris.csv", {"labels": "species"}, {"K": 3}),
        ("gmm", "iris.csv", {"labels": "species"}, {"K": 3}),
        ("gmm", "old_faithful.csv", {}, {"K": 2}),
        ("gmm", "galaxies.csv", {}, {"K": 4}),
        ("bayes-gmm", "iris.csv", {"labels": "species", "standardize": True}, {"K": 3}),
        ("exponential-mixture", "coal_intervals.csv", {"columns": ["interval_years"]}, {"K": 2}),
    ],
)
def test_sound_fits_of_the_bundled_data_are_not_degenerate(sample_dir, model_id, name, opts, hp):
    """The checks flag only what is degenerate: the bundled data's usual fits stay sound."""
    data = load_table(sample_dir / name, **opts)
    for seed in range(3):
        res = runner.fit(get_model(model_id), data, seed=seed, **hp)
        assert not res.stop_reason.startswith("degenerate"), (seed, res.stop_reason)
        assert res.model.degeneracy() is None


def test_a_state_worse_than_one_seen_is_never_called_converged():
    """A monotone (not keep_best) model whose last value fell below an earlier one and then held
    still: the stop rule holds, but the runner reports it as stopped, not converged."""
    from fake_models import ShrinkModel

    class Bounce(ShrinkModel):
        # distortion 10, 5, 8, 8: the rule holds at 8 == 8, worse than 5
        def step(self):
            return [10.0, 5.0, 8.0, 8.0][self.iteration]

    res = runner.fit(Bounce, table(np.zeros((4, 1))), max_iter=10, tol=1e-9)
    assert not res.converged
    assert res.stop_reason == "stopped: the distortion got worse than its best (iteration 2)"
    assert res.iterations == 4
