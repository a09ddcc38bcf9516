"""The window as a person uses it (issue 21, item 1): open a file, choose a model by clicking it,
type a value, press Run, wait, and go on: Run again, open another file, switch model, sweep K and
click a dot, open and compare runs, save and reopen the session, export, pause, restart with new
values, cancel, close during a fit. Every step goes through a widget or a menu item
(``tests/scenario.py``); after every step the test fails on an exception that reached the event
loop, an ``error:``/``warning:`` line in the log, an unexpected message box or a Qt warning.

The default run holds the sequences that broke after an a-MMSB or dynamic-exposure fit (issue 21:
``TracePanel.reset`` raised ``KeyError: 0`` on the second run and left the window unusable) and
one short sequence per table model; the whole model x action matrix is marked ``slow`` (``make
test`` still runs it). Runs are kept short through the form's own run settings (max iterations).
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QFileDialog  # noqa: E402
from scenario import User, Watch  # noqa: E402

# A Qt warning anywhere in a test fails it too (pytest-qt), beside the per-step checks.
pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"propagateSizeHints", r"^This plugin does not support")]


@pytest.fixture
def watch(qtlog, dialogs, monkeypatch):
    """What must not happen (scenario.Watch); a file dialog a step opens by mistake is recorded
    and answered with Cancel instead of blocking the test."""
    w = Watch(qtlog, dialogs)

    def no_dialog(name):
        def fake(*_args, **_kw):
            w.file_dialogs.append(name)
            return "", ""
        return staticmethod(fake)

    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, no_dialog(name))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *_a, **_k: w.file_dialogs.append("dir") or ""))
    yield w
    w.uninstall()


@pytest.fixture
def person(make_window, qtbot, watch):
    """``person(name)``: a new window with every registered model, and a User at it. Windows of
    one test share their settings (as a restarted application does)."""
    def make(name="user", size=(1400, 900)):
        return User(make_window(None, size), qtbot, watch, name)
    return make


def planted_subset(sample_dir, tmp_path, last_t=6):
    """Another temporal file a user might have: the planted contacts' first snapshots."""
    lines = (sample_dir / "planted_contacts" / "counts.csv").read_text().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if int(ln.split(",")[0]) < last_t]
    path = tmp_path / "contacts_first.csv"
    path.write_text("\n".join(keep) + "\n")
    return path


# ---- the sequences that broke (issue 21) -------------------------------------------------------
NETWORK_ITERS = 3


@pytest.mark.parametrize("first, other", [("karate", "football"), ("football", "karate")])
def test_ammsb_every_follow_up_leaves_the_window_usable(person, sample_dir, first, other):
    """Open, Run, finish; then each of Run again, open another file, switch model (and back),
    a Sweep K dot, Open in views on another run: a run after each starts and finishes."""
    u = person()
    net = sample_dir / first / "edges.csv"
    u.open(net)
    u.choose_model("ammsb")
    u.set_value("K", 3)
    u.set_run_setting("max_iter", NETWORK_ITERS)
    r1 = u.run()
    assert r1.model.hp.K == 3 and len(r1.trace) <= NETWORK_ITERS
    # Run again.
    r2 = u.run()
    assert r2.final_objective == pytest.approx(r1.final_objective, rel=1e-12)   # same seed
    # Open another file, run there.
    u.open(sample_dir / other / "edges.csv")
    assert u.w.model_panel.current_model().id == "ammsb"
    r3 = u.run()
    assert r3.data.n_items != r1.data.n_items
    # Switch model: the temporal and table models cannot take a network (clicking does nothing);
    # a table and K-means, then back to the network through File > Open recent.
    u.choose_model("dynamic-exposure", expect_enabled=False)
    u.choose_model("kmeans", expect_enabled=False)
    u.open(sample_dir / "iris.csv")
    u.choose_model("kmeans")
    u.run()
    u.open_recent(net)
    assert u.w.data.kind == "network" and u.w.model_panel.current_model().id == "ammsb"
    u.run()
    # A dot of Sweep K opens that fit; then a run of the user's own.
    u.sweep("2:3", seeds=1, jobs=1)
    dot = u.click_sweep_dot(2, u.w.model_panel.seed.value())
    assert dot.model.hp.K == 2
    u.run()
    # Open in views on the run made on the other file, then run.
    u.show_tab(u.w.runs_panel)
    other_run = u.w.session.runs[2].id          # r3: the other file
    u.select_runs(other_run)
    u.open_selected_run()
    assert u.w.data.n_items == r3.data.n_items and u.w.result is not None
    r = u.run()
    assert r.data.n_items == r3.data.n_items
    # Compare the first two runs (same data, same seed: the same clusters).
    u.show_tab(u.w.runs_panel)
    u.select_runs(u.w.session.runs[0].id, u.w.session.runs[1].id)
    assert u.w.runs_panel.agreement is not None
    assert u.w.runs_panel.agreement.ari == pytest.approx(1.0)


def test_dynamic_exposure_every_follow_up_leaves_the_window_usable(person, sample_dir, tmp_path):
    u = person()
    contacts = sample_dir / "planted_contacts" / "counts.csv"
    u.open(contacts)
    u.choose_model("dynamic-exposure")
    u.set_value("n_init", 1)
    u.set_run_setting("max_iter", 4)
    r1 = u.run()
    r2 = u.run()
    assert r2.final_objective == pytest.approx(r1.final_objective, rel=1e-12)
    u.open(planted_subset(sample_dir, tmp_path))
    assert u.w.model_panel.current_model().id == "dynamic-exposure"
    r3 = u.run()
    assert r3.data.T < r1.data.T
    u.choose_model("ammsb", expect_enabled=False)
    u.open(sample_dir / "karate" / "edges.csv")
    u.choose_model("ammsb")
    u.set_run_setting("max_iter", NETWORK_ITERS)
    u.run()
    u.open_recent(contacts)
    assert u.w.model_panel.current_model().id == "dynamic-exposure"
    u.run()
    u.sweep("2:3", seeds=1, jobs=1)
    u.click_sweep_dot(3, u.w.model_panel.seed.value())
    u.run()
    u.show_tab(u.w.runs_panel)
    u.select_runs(u.w.session.runs[2].id)
    u.open_selected_run()
    assert u.w.data.T == r3.data.T
    u.run()
