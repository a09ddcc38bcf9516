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

import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QFileDialog  # noqa: E402
from scenario import SWEEP_TIMEOUT_MS, User, Watch, wait  # noqa: E402

from explorer.api import load_result  # noqa: E402

# A Qt warning anywhere in a test fails it too (pytest-qt), beside the per-step checks.
pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore(r"propagateSizeHints", r"^This plugin does not support"),
]


@pytest.fixture
def watch(request, qtlog, dialogs, monkeypatch):
    """What must not happen (scenario.Watch); a file dialog a step opens by mistake is recorded
    and answered with Cancel instead of blocking the test."""
    # pytest-qt's own capture of exceptions in slots and virtual methods stays on.
    assert not request.config.getini("qt_no_exception_capture")
    assert request.node.get_closest_marker("qt_no_exception_capture") is None
    w = Watch(qtlog, dialogs)

    def no_dialog(name):
        def fake(*_args, **_kw):
            w.file_dialogs.append(name)
            return "", ""

        return staticmethod(fake)

    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, no_dialog(name))
    monkeypatch.setattr(
        QFileDialog,
        "getExistingDirectory",
        staticmethod(lambda *_a, **_k: w.file_dialogs.append("dir") or ""),
    )
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


SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def same_value(got, typed) -> bool:
    """A field's value is what was typed into it (numbers compared as numbers)."""
    try:
        return float(got) == pytest.approx(float(typed), rel=1e-12)
    except (TypeError, ValueError):
        return str(got) == str(typed)


# ---- the sequences that broke (issue 21) -------------------------------------------------------
NETWORK_ITERS = 3


@pytest.mark.parametrize(
    "first, other",
    [("karate", "football"), pytest.param("football", "karate", marks=pytest.mark.slow)],
)
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
    assert r2.final_objective == pytest.approx(r1.final_objective, rel=1e-12)  # same seed
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
    other_run = u.w.session.runs[2].id  # r3: the other file
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


# ---- every model: the model x action matrix ------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """How a user tries one model: the file (and its ground-truth column), a field to type into,
    a short run's iteration limit, the other file they open next, and the model they switch to."""

    model: str
    file: str
    value: tuple  # (field, value typed)
    max_iter: int
    other: str
    switch_to: str | None  # another model for the same data (None: no other takes this kind)
    truth: str | None = None
    other_truth: str | None = None  # the ground-truth column of the other file
    long_file: str | None = None  # a larger file of the same kind for runs a user interrupts
    sweep_dot: int = 2


BIG, BIG_BINARY = "big_table", "big_binary"  # the long files (made by the fixture below)
# One case a line (fmt: off): the cases read as a table of what a user tries with each model,
# which the formatter would spread over up to 11 lines a case.
# fmt: off
CASES = [
    # model, file, (field, value typed), max_iter, other file, switch to, truth, other truth, ...
    Case("kmeans", "iris.csv", ("K", 4), 20, "old_faithful.csv", "gmm", "species", long_file=BIG),
    Case("kmedians", "iris.csv", ("K", 2), 20, "old_faithful.csv", "kmeans", "species", long_file=BIG),
    Case("gmm", "old_faithful.csv", ("reg_covar", "1e-05"), 20, "iris.csv", "kmeans", long_file=BIG),
    Case("bayes-gmm", "old_faithful.csv", ("sigma2", 20), 20, "galaxies.csv", "gmm", long_file=BIG),
    Case("fuzzy-cmeans", "iris.csv", ("m", 1.5), 20, "old_faithful.csv", "kmeans", "species", long_file=BIG),
    Case("bernoulli-mixture", "digits_binary.csv", ("K", 10), 5, "digits_binary_half.csv", "kmeans", "digit", "digit", BIG_BINARY),
    Case("exponential-mixture", "coal_intervals.csv", ("K", 3), 20, "galaxies.csv", "gmm", long_file=BIG),
    Case("ammsb", "karate/edges.csv", ("K", 3), NETWORK_ITERS, "football/edges.csv", None),
    Case("dynamic-exposure", "planted_contacts/counts.csv", ("K_aff", 2), 4, "contacts_first.csv", None, sweep_dot=3),
]
# fmt: on


# K-means (the quickest) runs by default; every other model is in the slow set.
MATRIX = [
    pytest.param(c, id=c.model, marks=() if c.model == "kmeans" else pytest.mark.slow)
    for c in CASES
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bundled samples, and the files a user might also have: half of the digits, the first
    snapshots of the planted contacts, and larger tables whose fits last long enough to pause."""
    d = tmp_path_factory.mktemp("user_files")
    paths = {p.relative_to(SAMPLE).as_posix(): p for p in SAMPLE.rglob("*.csv")}
    lines = (SAMPLE / "digits_binary.csv").read_text().splitlines()
    paths["digits_binary_half.csv"] = d / "digits_binary_half.csv"
    paths["digits_binary_half.csv"].write_text("\n".join(lines[:900]) + "\n")
    paths["contacts_first.csv"] = planted_subset(SAMPLE, d)
    rng = np.random.default_rng(0)
    centres = np.array([[5, 5, 5, 5], [12, 5, 8, 5], [5, 12, 5, 9], [12, 12, 9, 12]], float)
    X = np.abs(np.vstack([c + rng.normal(size=(15_000, 4)) for c in centres])) + 0.01
    paths["big_table"] = d / "big_table.csv"
    np.savetxt(paths["big_table"], X, fmt="%.4f", delimiter=",", header="a,b,c,d", comments="")
    B = (rng.random((20_000, 32)) < np.repeat(rng.random((4, 32)), 5_000, axis=0)).astype(int)
    paths["big_binary"] = d / "big_binary.csv"
    np.savetxt(
        paths["big_binary"],
        B,
        fmt="%d",
        delimiter=",",
        header=",".join(f"b{j}" for j in range(32)),
        comments="",
    )
    return paths


def start_case(u, case, files):
    """Open the case's file, choose its ground truth and model, type its value, short runs."""
    u.open(files[case.file])
    if case.truth:
        u.choose_ground_truth(case.truth)
    u.choose_model(case.model)
    u.set_value(*case.value)
    if "n_init" in u.w.model_panel.form.editors:
        u.set_value("n_init", 1)
    u.set_run_setting("max_iter", case.max_iter)


def long_runs(u, case, files):
    """The settings of a fit that runs until the user stops it: the larger file (tables), every
    restart the form allows, no iteration limit to speak of, tolerance 0."""
    if case.long_file:
        u.open(files[case.long_file])
        assert u.w.model_panel.current_model().id == case.model
    hi = u.w.model_panel.form.specs["n_init"].hi
    u.set_value("n_init", int(hi))
    if "patience" in u.w.model_panel.form.editors:
        u.set_value("patience", int(u.w.model_panel.form.specs["patience"].hi))
    u.set_run_setting("max_iter", 1_000_000)
    u.set_run_setting("tol", 0)


def assert_paused(u, qtbot):
    """The bar does not move while paused (a progress report already on its way may land)."""
    wait(qtbot, 150)
    bar = u.w.run_panel.progress
    before = (bar.value(), bar.maximum())
    wait(qtbot, 400)
    assert (bar.value(), bar.maximum()) == before, "the fit went on while paused"
    assert u.w.is_running()


@pytest.mark.parametrize("case", MATRIX)
def test_every_model_run_pause_restart_cancel_close(person, files, qtbot, case):
    """Run, Run again, Pause and Resume, change a value while paused and restart with it,
    Cancel, and close the window during a fit."""
    u = person()
    start_case(u, case, files)
    field, value = case.value
    r1 = u.run()
    assert same_value(r1.model.hp.as_dict()[field], value)
    assert len(r1.trace) <= case.max_iter
    r2 = u.run()
    assert r2.final_objective == pytest.approx(r1.final_objective, rel=1e-9)
    long_runs(u, case, files)
    u.start()
    u.pause()
    assert_paused(u, qtbot)
    u.resume()
    wait(qtbot, 300)
    assert u.w.is_running(), "the fit ended on its own: make it longer"
    u.pause()
    k_name = next(n for n in ("K", "K_aff") if n in u.w.model_panel.form.editors)
    new_k = u.w.model_panel.form.values()[k_name] + 1
    u.set_value(k_name, new_k)
    u.restart_with_new_values()
    assert u.w.is_running() and u.w.pause_action.text().replace("&", "") == "Pause"
    wait(qtbot, 300)
    cancelled = u.cancel()
    assert cancelled.model.hp.as_dict()[k_name] == new_k
    assert u.w.run_action.isEnabled() and not u.w.pause_action.isEnabled()
    u.start()
    wait(qtbot, 300)
    assert u.w.is_running()
    u.close()
    assert not u.w.is_running()


@pytest.mark.parametrize("case", MATRIX)
def test_every_model_files_sweep_runs_session_export(person, files, qtbot, tmp_path, case):
    """Switch model and back, open another file and the first again (Open recent), sweep K and
    click a dot, open and compare runs in the Runs tab, export, save the session and reopen it
    in a new window."""
    u = person()
    start_case(u, case, files)
    first = u.run()
    if case.switch_to:
        u.choose_model(case.switch_to)
        u.set_run_setting("max_iter", 10)
        u.run()
        u.choose_model(case.model)
        field, value = case.value
        assert same_value(u.w.model_panel.form.values()[field], value), (
            "the value typed for this model was not kept when switching back"
        )
    else:
        other = "ammsb" if case.model == "dynamic-exposure" else "dynamic-exposure"
        u.choose_model(other, expect_enabled=False)
    u.set_run_setting("max_iter", case.max_iter)
    u.open(files[case.other])
    if case.other_truth:
        u.choose_ground_truth(case.other_truth)
    u.choose_model(case.model)  # (the window picks the last model run on tables: see below)
    on_other = u.run()
    u.open_recent(files[case.file])
    assert u.w.model_panel.current_model().id == case.model
    u.sweep(f"2:{case.sweep_dot}", seeds=1, jobs=1)
    dot = u.click_sweep_dot(case.sweep_dot, u.w.model_panel.seed.value())
    k_name = "K_aff" if case.model == "dynamic-exposure" else "K"
    assert dot.model.hp.as_dict()[k_name] == case.sweep_dot
    # The Runs tab: compare the first run with the dot's; open the run on the other file.
    u.show_tab(u.w.runs_panel)
    ids = {r.id: r for r in u.w.session.runs}
    first_id = min(ids)
    other_id = next(i for i, r in ids.items() if u.w.run_results.get(i) is on_other)
    u.select_runs(first_id, max(ids))
    assert "run" in u.w.runs_panel.agreement_label.text()
    u.select_runs(other_id)
    u.open_selected_run()
    assert u.w.data.n_items == on_other.data.n_items
    after = u.run()
    # Export the run on screen; the written set loads back and holds its assignments.
    out = tmp_path / "export"
    u.export(out)
    loaded = load_result(out)
    assert loaded.model == case.model
    assert len(loaded.assignments) == after.data.n_items
    png = u.export_plot(tmp_path / "plot.png")
    assert not QImage(str(png)).isNull()
    # Save the session; a new window opens it with every run and the current one in the views.
    saved = u.save_session(tmp_path / "work")
    n_runs = len(u.w.session.runs)
    v = person("second window")
    v.open_session(saved)
    assert len(v.w.session.runs) == n_runs
    assert v.w.runs_panel.table.model().rowCount() == n_runs
    assert v.w.result is not None
    assert v.w.result.final_objective == pytest.approx(after.final_objective, rel=1e-9)
    # Open in views on the first run: fitted again from its saved settings, the same fit.
    v.show_tab(v.w.runs_panel)
    v.select_runs(first_id)
    v.open_selected_run()
    assert v.w.result.final_objective == pytest.approx(first.final_objective, rel=1e-9)
    np.testing.assert_array_equal(v.w.result.model.labels(), first.model.labels())
    v.run()


def test_opening_another_file_keeps_the_chosen_model(person, sample_dir):
    u = person()
    u.open(sample_dir / "iris.csv")
    u.choose_model("gmm")
    u.set_run_setting("max_iter", 5)
    u.run()
    u.choose_model("kmeans")  # the user changes their mind, then opens another table
    u.open(sample_dir / "old_faithful.csv")
    assert u.w.model_panel.current_model().id == "kmeans"


# ---- more of what people do ------------------------------------------------------------------------
def test_shortcuts_work_with_the_focus_in_a_form_field(person, sample_dir, qtbot, watch):
    """Ctrl+R runs and Ctrl+E exports while the cursor is in a hyperparameter field (issue 21
    saw Ctrl+E swallowed by the field on X11; offscreen both reach the window)."""
    u = person()
    u.open(sample_dir / "iris.csv")
    u.choose_model("kmeans")
    u.set_run_setting("max_iter", 5)
    u.w.activateWindow()
    qtbot.waitUntil(u.w.isActiveWindow, timeout=5000)
    field = u.editor("K")
    field.setFocus()
    mark = u._mark()
    qtbot.keyClick(field, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    u.check("Ctrl+R in the K field")
    u._wait_started(mark, "Ctrl+R in a form field started no run")
    u.wait_finished(mark[0])
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert watch.file_dialogs == ["getSaveFileName"], "Ctrl+E in a form field asked nothing"
    watch.file_dialogs.clear()  # (answered with Cancel: nothing written)
    u.check("Ctrl+E in the K field")


def test_switch_model_and_open_a_file_during_a_run(person, files, qtbot):
    """Clicking another model during a fit offers the restart, which runs the new model; opening
    a file during a fit stops it; the window then runs as usual."""
    u = person()
    u.open(files["big_table"])
    u.choose_model("gmm")
    long_runs(u, CASES[2], files)
    u.start()
    wait(qtbot, 300)
    u.choose_model("kmeans")
    u.set_value("n_init", 100)  # (K-means ends its restarts at a fixed point)
    u.restart_with_new_values()
    wait(qtbot, 300)
    assert u.w.is_running()
    cancelled = u.cancel()
    assert type(cancelled.model).id == "kmeans"
    u.set_run_setting("max_iter", 1_000_000)
    u.set_run_setting("tol", 0)
    u.start()
    u.open(files["iris.csv"])
    assert not u.w.is_running() and u.w.run_action.isEnabled()
    u.set_value("n_init", 1)
    u.set_run_setting("max_iter", 5)
    u.run()


def test_runs_table_and_log_number_runs_alike(person, files, qtbot):
    u = person()
    u.open(files["big_table"])
    u.choose_model("kmeans")
    u.set_run_setting("max_iter", 5)
    u.run()
    long_runs(u, CASES[0], files)
    u.start()
    u.pause()
    u.set_value("K", 5)
    u.restart_with_new_values()  # run 2 is dropped, run 3 starts
    u.cancel()
    u.set_value("n_init", 1)
    u.set_run_setting("max_iter", 5)
    u.run()
    ended = [
        int(m.group(1))
        for line in u.log_lines()
        if (m := re.search(r"\brun (\d+): (converged|cancelled|stopped)", line))
        and "not in the Runs tab" not in line
    ]
    assert sorted(u.run_rows()) == ended
    # a run cancelled before its first iteration is said to be left out, never silently
    assert all(
        ("not in the Runs tab: no iteration finished" in line) == (int(m.group(1)) not in ended)
        for line in u.log_lines()
        if (m := re.search(r"\brun (\d+): (converged|cancelled|stopped)", line))
    )


def test_sweep_offers_only_criteria_with_points(person, sample_dir):
    u = person()
    u.open(sample_dir / "iris.csv")
    u.choose_model("kmeans")
    u.set_run_setting("max_iter", 20)
    u.sweep("2:3", seeds=2, jobs=1)
    combo = u.w.sweep_panel.criterion
    empty = []
    for i in range(combo.count()):
        u.type_into(combo, combo.itemText(i))
        u.check(f"criterion {combo.itemText(i)}")
        x, _y = u.w.sweep_panel.mean_curve.getData()
        if x is None or not len(x):
            empty.append(combo.itemText(i))
    assert not empty, f"criteria offered with nothing to draw: {empty}"


@pytest.mark.slow
def test_sweep_cancel_is_said_in_the_log(person, files, qtbot):
    u = person()
    u.open(files["big_table"])
    u.choose_model("kmeans")
    u.set_run_setting("max_iter", 50)
    u.choose_menu("Run", "Sweep K")
    sp = u.w.sweep_panel
    u.type_into(sp.k_range, "2:12")
    u.type_into(sp.seeds, 3)
    u.type_into(sp.jobs, 1)
    with qtbot.waitSignal(sp.finished, timeout=SWEEP_TIMEOUT_MS):
        u.click(sp.start_button)
        qtbot.waitUntil(lambda: len(sp.rows) >= 2, timeout=SWEEP_TIMEOUT_MS)
        u.click(sp.cancel_button)
    u.check("cancel the sweep")
    assert sp.start_button.isEnabled()
    last = [line for line in u.log_lines() if "sweep" in line][-1]
    assert "cancelled" in last, last


# Closing during Sweep K runs in a child process: if the window hangs, the test must not.
INNER = "EXPLORER_SCENARIO_INNER"


@pytest.mark.skipif(not os.environ.get(INNER), reason="run by test_close_during_a_sweep")
def test_close_during_a_sweep_inner(person, files, qtbot):
    u = person()
    u.open(files["big_table"])
    u.choose_model("gmm")
    u.choose_menu("Run", "Sweep K")
    sp = u.w.sweep_panel
    u.type_into(sp.k_range, "2:12")
    u.type_into(sp.jobs, 2)
    u.click(sp.start_button)
    qtbot.waitUntil(lambda: len(sp.rows) >= 1, timeout=SWEEP_TIMEOUT_MS)
    Path(os.environ[INNER]).write_text("closing")  # the parent times the close from here
    u.close()
    assert mp.active_children() == [], "sweep workers outlived the window"


@pytest.mark.slow
def test_close_during_a_sweep(tmp_path):
    closing = tmp_path / "closing"
    env = dict(os.environ, **{INNER: str(closing)})
    log = tmp_path / "inner.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--timeout",
                "0",
                f"{__file__}::test_close_during_a_sweep_inner",
            ],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Up to 4 minutes to open the file and see a first fit; then 60 s to close.
            deadline = time.monotonic() + 240
            while not closing.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the window and its sweep workers
            proc.wait()
            pytest.fail(
                "the window did not close within 60 s of Close during Sweep K"
                if closing.exists()
                else "the sweep did not start within 240 s"
            )
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]


def test_open_a_session_during_a_fit_and_delete_a_run(person, files, qtbot, tmp_path):
    """A saved session opened while a fit runs replaces it (the fit stops); a run deleted in the
    Runs tab leaves the table, and the others still open."""
    u = person()
    u.open(files["iris.csv"])
    u.choose_model("kmeans")
    u.set_run_setting("max_iter", 20)
    for K in (2, 3):
        u.set_value("K", K)
        u.run()
    saved = u.save_session(tmp_path / "iris")
    u.open(files["big_table"])
    long_runs(u, CASES[0], files)
    u.start()
    wait(qtbot, 200)
    u.open_session(saved)
    assert not u.w.is_running() and u.w.run_action.isEnabled()
    assert sorted(u.run_rows()) == [1, 2] and u.w.data.n_items == 150
    u.show_tab(u.w.runs_panel)
    u.select_runs(2)
    u.click(u.w.runs_panel.delete_button)
    u.check("press Delete")
    assert sorted(u.run_rows()) == [1]
    u.select_runs(1)
    u.open_selected_run()
    assert u.w.result.model.hp.K == 2
    u.set_run_setting("max_iter", 5)
    u.run()


@pytest.mark.parametrize("size", [(1024, 700), (1600, 1000)])
def test_every_tab_after_a_run_at_small_and_large_sizes(person, sample_dir, size):
    """Each tab clicked after a table fit and after a network fit, in a small and a large
    window: every plot draws the final state without a warning."""
    u = person(size=size)
    for path, model, iters in (
        (sample_dir / "iris.csv", "gmm", 20),
        (sample_dir / "karate" / "edges.csv", "ammsb", NETWORK_ITERS),
    ):
        u.open(path)
        u.choose_model(model)
        u.set_run_setting("max_iter", iters)
        u.run()
        for i in range(u.w.tabs.count()):
            u.show_tab(u.w.tabs.widget(i))
