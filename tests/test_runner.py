"""The fit loop: convergence, restarts, cancel, pause, throttled snapshots, timing.

Throttling is checked against a fake clock (``fake_clock``: the runner's ``time`` replaced by one
that a model step advances by a fixed tick), so the tests assert exact counts, never wall time;
the same behaviour in real time is measured by bench/bench_runner_throttle.py.
"""

import threading
import time
import types

import numpy as np
import pytest
from fake_models import ShrinkModel
from helpers import noise_fit, noise_table

from explorer import runner

TICK = 2.0**-6  # seconds of fake time per step: exact in binary, so no rounding at the edges


class TickingModel(ShrinkModel):
    """ShrinkModel whose every step advances the fake clock by TICK (and never sleeps)."""

    clock: list[float] = [0.0]

    def step(self):
        TickingModel.clock[0] += TICK
        return super().step()


@pytest.fixture
def fake_clock(monkeypatch):
    """The runner (and its RunControl) read a clock that only model steps advance."""
    TickingModel.clock = [0.0]
    now = lambda: TickingModel.clock[0]  # noqa: E731
    monkeypatch.setattr(
        runner, "time", types.SimpleNamespace(perf_counter=now, monotonic=now, sleep=time.sleep)
    )
    return TickingModel.clock


def test_converges_to_closed_form_and_keeps_trace():
    data = noise_table()
    res = runner.fit(ShrinkModel, data, seed=3, K=2, rate=0.5, tol=1e-12, max_iter=500)
    assert res.converged and not res.cancelled
    assert res.iterations == len(res.trace) == len(res.iteration_times)
    # The fitted centres are the group means (closed form) to well below the tolerance.
    groups = np.arange(60) % 2
    means = np.stack([data.X[groups == k].mean(0) for k in range(2)])
    np.testing.assert_allclose(res.model.centers, means, atol=1e-5)
    # Distortion is non-increasing for this contraction.
    assert all(b <= a + 1e-12 for a, b in zip(res.trace, res.trace[1:]))
    # Labels equal the groups i mod 2, so NMI/ARI against "i mod 2" ground truth are 1.
    assert res.metrics["nmi"] == pytest.approx(1.0)
    assert res.metrics["ari"] == pytest.approx(1.0)
    assert res.per_iteration_s == pytest.approx(float(np.median(res.iteration_times)))


def test_max_iter_stops_unconverged():
    res = noise_fit(max_iter=5)
    assert res.iterations == 5 and not res.converged


def test_restarts_keep_the_best_and_report_seeds():
    res = runner.fit(
        ShrinkModel, noise_table(), seed=10, K=2, rate=0.2, n_init=4, max_iter=3, tol=0
    )
    assert [r["seed"] for r in res.restarts] == [10, 11, 12, 13]
    finals = [r["objective"] for r in res.restarts]
    assert res.final_objective == min(finals)  # distortion: lower is better
    assert res.seed == 10
    assert res.best_seed == 10 + int(np.argmin(finals))


def test_cancel_within_one_iteration_keeps_last_good_state():
    control = runner.RunControl()
    seen = []

    def cb(p):
        seen.append(p.iteration)
        if p.iteration >= 3:
            control.cancel()

    res = noise_fit(max_iter=1000, callback=cb, snapshot_interval=0.0, control=control)
    assert res.cancelled and not res.converged
    assert res.iterations == 3  # the cancel was seen before iteration 4 started
    assert res.model.parameters()["centers"].shape == (2, 2)
    assert np.isfinite(res.final_objective)


def test_pause_blocks_and_resume_continues():
    control = runner.RunControl()
    data = noise_table()
    out = {}
    steps = []

    class Counting(ShrinkModel):
        def step(self):
            steps.append(self.iteration)
            return super().step()

    def work():
        out["res"] = runner.fit(Counting, data, K=2, rate=0.01, max_iter=40, tol=0, control=control)

    control.pause()
    th = threading.Thread(target=work)
    th.start()
    # However long the wait, a paused loop takes no step (without the pause, 40 undelayed steps
    # take about a millisecond).
    th.join(0.3)
    assert th.is_alive() and "res" not in out and steps == []
    control.resume()
    th.join(10)
    assert out["res"].iterations == 40 and steps == list(range(40))


def test_snapshots_are_throttled_and_last_one_is_final(fake_clock):
    calls = []
    # 200 steps of 1/64 s (3.125 s of fake time), a report at most every 8/64 s: the first
    # iteration's, then every eighth step's, the last iteration's and the final one (done)
    res = noise_fit(
        TickingModel, rate=0.001, max_iter=200, callback=calls.append, snapshot_interval=8 * TICK
    )
    assert [p.iteration for p in calls] == [1, *range(9, 200, 8), 200, 200]
    assert [p.done for p in calls] == [False] * (len(calls) - 1) + [True]
    assert calls[-1].iteration == res.iterations == 200
    assert calls[-1].snapshot["labels"].shape == (60,)
    # every report's elapsed time is the fake clock's, at least the interval apart
    gaps = np.diff([p.elapsed_s for p in calls[:-2]])
    assert np.all(gaps >= 8 * TICK)


def test_worker_exception_propagates():
    with pytest.raises(RuntimeError, match="planned failure"):
        runner.fit(ShrinkModel, noise_table(), K=2, fail_at=3)


def test_bad_settings_refused():
    with pytest.raises(ValueError):
        runner.fit(ShrinkModel, noise_table(), max_iter=0)


def test_keep_best_returns_the_best_state_and_says_why_it_stopped():
    from fake_models import RiseFallModel

    res = runner.fit(RiseFallModel, noise_table(), peak=5, patience=3, seed=0)
    assert res.iterations == 8 and len(res.trace) == 8  # full history kept
    assert res.best_iteration == 5 < res.iterations
    assert res.model.position == 5  # the state of iteration 5
    np.testing.assert_array_equal(res.model.values, np.full(3, 5.0))
    assert res.final_objective == res.trace[4] == 0.0
    assert not res.converged
    assert res.stop_reason == "stopped: fell 3 checks, best at iteration 5"
    assert any("iteration 5" in n for n in res.notes)


def test_nonfinite_objective_never_converges_and_keeps_best_state():
    from fake_models import RiseFallModel

    res = runner.fit(RiseFallModel, noise_table(), peak=10, nan_at=4, seed=0)
    assert not res.converged
    assert res.stop_reason.startswith("non-finite objective")
    assert res.best_iteration == 3 and res.model.position == 3
    assert np.isfinite(res.final_objective)


def test_monotone_model_with_nonfinite_objective_is_reported_not_converged():
    class Blowup(ShrinkModel):
        def step(self):
            value = super().step()
            return value if self.iteration < 2 else float("inf")

    res = runner.fit(Blowup, noise_table(), K=2, tol=0.0, max_iter=10)
    assert not res.converged and res.stop_reason.startswith("non-finite objective (inf)")
    assert any("not usable" in n for n in res.notes)


def test_degenerate_restart_is_never_chosen_over_a_sound_one():
    from fake_models import RiseFallModel

    # Restart seeds 0, 1, 2: scores peak at the seed, so seed 2 would win, but it is degenerate.
    res = runner.fit(RiseFallModel, noise_table(), n_init=3, degenerate_seed=2, seed=0)
    assert res.best_seed == 1
    assert [r["stop_reason"].startswith("degenerate") for r in res.restarts] == [False, False, True]
    # All degenerate: one is still returned, reported as degenerate and not converged.
    res = runner.fit(RiseFallModel, noise_table(), n_init=1, degenerate_seed=0, seed=0)
    assert res.stop_reason == "degenerate: collapsed" and not res.converged


def test_stop_reasons_of_plain_runs():
    assert (
        runner.fit(ShrinkModel, noise_table(), K=2, tol=1e-12, max_iter=500).stop_reason
        == "converged"
    )
    res = runner.fit(ShrinkModel, noise_table(), K=2, rate=0.01, max_iter=5, tol=0.0)
    assert res.stop_reason == "iteration limit" and res.best_iteration == 5


# ---- the template (prepare once per fit) and the generator protocol ------------------------------


class CountingShrink(ShrinkModel):
    """ShrinkModel that records every _prepare, _init_state and snapshot call (class-wide lists,
    reset by the fixture below: restarts are other instances)."""

    prepared: list = []
    started: list = []
    snapshots: list = []
    finished: list = []

    def _prepare(self, data):
        CountingShrink.prepared.append(data)
        super()._prepare(data)

    def _init_state(self, seed):
        CountingShrink.started.append(seed)
        super()._init_state(seed)

    def snapshot(self):
        CountingShrink.snapshots.append(self.iteration)
        return super().snapshot()

    def finish(self):
        CountingShrink.finished.append((self.seed, self.iteration))


@pytest.fixture
def counting():
    for calls in (
        CountingShrink.prepared,
        CountingShrink.started,
        CountingShrink.snapshots,
        CountingShrink.finished,
    ):
        calls.clear()
    return CountingShrink


def test_prepare_runs_once_per_fit_and_restarts_share_it(counting):
    data = noise_table()
    res = runner.fit(counting, data, seed=5, K=2, rate=0.3, n_init=3, max_iter=20, tol=0)
    assert counting.prepared == [data]  # once, not once per restart
    assert counting.started == [5, 6, 7]
    # finish: once per restart, on its returned state
    assert counting.finished == [(r["seed"], r["iterations"]) for r in res.restarts]
    assert [r["seed"] for r in res.restarts] == [5, 6, 7]
    # Sharing the prepared state changes nothing: each restart ends where a fit of its own does.
    for r in res.restarts:
        alone = runner.fit(ShrinkModel, data, seed=r["seed"], K=2, rate=0.3, max_iter=20, tol=0)
        assert alone.trace[-1] == r["objective"]
    # Used alone, initialize prepares when nobody has, once per data set.
    counting.prepared.clear()
    m = counting(K=2)
    m.initialize(data, 0)
    m.initialize(data, 1)
    assert counting.prepared == [data] and m.seed == 1 and m.iteration == 0
    other = noise_table(seed=1)
    m.initialize(other, 0)
    assert counting.prepared == [data, other]


def test_finish_is_not_called_after_a_cancel(counting):
    control = runner.RunControl()
    res = noise_fit(
        counting,
        seed=5,
        rate=0.3,
        max_iter=20,
        control=control,
        callback=lambda p: control.cancel(),
    )
    assert res.cancelled and res.iterations >= 1 and counting.finished == []


def test_iterate_yields_every_iteration_and_returns_the_restart():
    m = ShrinkModel(K=2, rate=0.01)
    m.initialize(noise_table(), 0)
    steps = runner.iterate(m, max_iter=7, tol=0.0)
    seen = []
    while True:
        try:
            it = next(steps)
        except StopIteration as stop:
            restart = stop.value
            break
        assert m.iteration == it.iteration  # the runner's counter, set per step
        seen.append((it.iteration, it.objective, it.last, len(it.trace)))
    assert [s[0] for s in seen] == list(range(1, 8))
    assert [s[2] for s in seen] == [False] * 6 + [True]
    assert [s[3] for s in seen] == list(range(1, 8))  # the trace so far, one value per step
    assert [s[1] for s in seen] == restart.trace
    assert restart.stop_reason == "iteration limit" and restart.best_iteration == 7
    assert restart.model is m and len(restart.times) == 7
    # A converging restart's last yield is the step at which it converged.
    m = ShrinkModel(K=2, rate=0.9)
    m.initialize(noise_table(), 0)
    its = list(runner.iterate(m, max_iter=1000, tol=1e-9))
    assert its[-1].last and not any(i.last for i in its[:-1]) and len(its) < 1000


def test_snapshots_only_on_request_plus_the_final_one(counting):
    control = runner.RunControl(snapshots_on_request=True)
    calls = []
    res = noise_fit(
        counting, max_iter=30, callback=calls.append, snapshot_interval=0.0, control=control
    )
    assert len(calls) == 31 and calls[-1].done  # progress at every iteration, then done
    with_snap = [p.iteration for p in calls if p.snapshot is not None]
    # Nobody asked after the first: the first report and the final state only.
    assert with_snap == [1, 30] and calls[-1].snapshot is not None
    assert counting.snapshots == [1, 30]  # none made and dropped
    assert res.iterations == 30

    # A consumer that asks again after every fifth report gets one at the next report.
    counting.snapshots.clear()
    control = runner.RunControl(snapshots_on_request=True)
    calls = []

    def consumer(p):
        calls.append(p)
        if p.iteration % 5 == 0 and not p.done:
            control.request_snapshot()

    noise_fit(counting, max_iter=30, callback=consumer, snapshot_interval=0.0, control=control)
    with_snap = [p.iteration for p in calls if p.snapshot is not None and not p.done]
    assert with_snap == [1, 6, 11, 16, 21, 26]
    assert counting.snapshots == with_snap + [30]

    # The default control (the CLI, sweep, scripts): a snapshot with every report, as before.
    calls = []
    noise_fit(max_iter=10, callback=calls.append, snapshot_interval=0.0)
    assert all(p.snapshot is not None for p in calls)


def test_a_delayed_request_is_served_after_its_delay(fake_clock):
    control = runner.RunControl(snapshots_on_request=True)
    got = []

    def consumer(p):
        if p.snapshot is not None and not p.done:
            got.append((p.iteration, fake_clock[0]))
            if len(got) == 1:
                control.request_snapshot(16 * TICK)

    watched = dict(callback=consumer, snapshot_interval=0.0, control=control)
    noise_fit(TickingModel, rate=0.001, max_iter=60, **watched)
    # asked at iteration 1 (fake time 1 tick) for a snapshot 16 ticks later: served at iteration
    # 17, not before, and no other
    assert got == [(1, TICK), (17, 17 * TICK)]


@pytest.mark.parametrize(
    "model_id, path, hp",
    [
        ("dynamic-exposure", "planted_contacts/counts.csv", {"n_init": 3, "K_aff": 3, "K_exp": 2}),
        ("ammsb", "karate/edges.csv", {"n_init": 3, "K": 2}),
    ],
)
def test_real_models_prepare_once_and_restarts_match_single_fits(
    monkeypatch, sample_dir, model_id, path, hp
):
    """The dense pair arrays (dynamic-exposure) and the held-out split (a-MMSB) are built once
    per fit with n_init 3, and every restart ends exactly where a fit of its own seed does."""
    import explorer
    from explorer.models import get_model

    cls = get_model(model_id)
    data = explorer.load(sample_dir / path)
    calls = []
    original = cls._prepare

    def counting(self, d):
        calls.append(d)
        original(self, d)

    monkeypatch.setattr(cls, "_prepare", counting)
    res = runner.fit(cls, data, seed=4, max_iter=6, **hp)
    assert calls == [data]
    assert len(res.restarts) == 3
    for r in res.restarts:
        alone = runner.fit(cls, data, seed=r["seed"], max_iter=6, **{**hp, "n_init": 1})
        assert alone.final_objective == r["objective"]
        assert alone.iterations == r["iterations"]
