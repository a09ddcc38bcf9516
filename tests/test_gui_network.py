"""The Network panel (explorer/gui/plots/network.py), driven directly: data, layout, snapshot,
click, hover, ground truth, temporal snapshots, the large-network sample, export, the layout job."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from explorer import layout as L  # noqa: E402
from explorer.data import load_network, load_temporal  # noqa: E402
from explorer.gui.plots import NetworkPanel, cluster_color  # noqa: E402
from explorer.gui.plots.network import layout_job  # noqa: E402
from tests.conftest import SAMPLE  # noqa: E402


@pytest.fixture(autouse=True)
def layout_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_LAYOUT_CACHE", str(tmp_path / "layouts"))


@pytest.fixture
def karate():
    return load_network(SAMPLE / "karate" / "edges.csv", labels=f"{SAMPLE}/karate/nodes.csv:club")


@pytest.fixture
def panel(qtbot):
    p = NetworkPanel()
    qtbot.addWidget(p)
    p.resize(800, 600)
    p.show()
    qtbot.waitExposed(p)
    return p


def fake_snapshot(n: int, K: int = 3, mixed=(5, 6)):
    """Memberships with node i mostly in i % K, nodes ``mixed`` split 0.5 / 0.4 / 0.1."""
    m = np.full((n, K), 0.1 / (K - 1))
    m[np.arange(n), np.arange(n) % K] = 0.9
    for i in mixed:
        m[i] = 0.0
        m[i, 0], m[i, 2], m[i, 1] = 0.5, 0.4, 0.1
    return {"labels": m.argmax(1), "memberships": m}


def drawn_brushes(p: NetworkPanel) -> list[tuple[int, int, int]]:
    return [tuple(b.color().getRgb()[:3]) for b in p.nodes.data["brush"]]


def node_screen_point(p: NetworkPanel, node: int) -> QPoint:
    from PySide6.QtCore import QPointF

    scene = p.plot.vb.mapViewToScene(QPointF(*p.xy[node]))
    return p.pw.mapFromScene(scene)


def test_before_a_layout_the_panel_says_it_is_computing(panel, karate):
    panel.set_data(karate)
    assert panel.applies()
    assert "Computing the layout" in panel.message.textItem.toPlainText()
    panel.set_layout_progress(0.4)
    assert "40%" in panel.message.textItem.toPlainText()
    assert len(panel.nodes.data) == 0


def test_layout_draws_every_node_and_link_sized_by_degree(panel, karate):
    panel.set_data(karate)
    xy = L.compute_layout(karate)
    panel.set_layout(xy)
    assert len(panel.nodes.data) == 34
    x, _ = panel.links.getData()
    assert len(x) == 2 * karate.n_edges
    sizes = panel.nodes.data["size"]
    deg = np.asarray((karate.adjacency > 0).sum(1)).ravel()
    assert sizes[np.argmax(deg)] == sizes.max() > sizes.min()
    assert np.all(np.diff(sizes[np.argsort(deg)]) >= 0)  # size grows with degree
    # before a fit: coloured by the ground truth (two clubs, two colours)
    assert len(set(drawn_brushes(panel))) == 2
    with pytest.raises(ValueError, match="for 34 nodes"):
        panel.set_layout(xy[:10])


def test_snapshot_colours_by_argmax_and_rings_mixed_nodes(panel, karate):
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    snap = fake_snapshot(34)
    panel.show_snapshot(snap, None)
    want = [cluster_color(int(k)) for k in snap["memberships"].argmax(1)]
    assert drawn_brushes(panel) == want
    assert np.flatnonzero(panel.mixed).tolist() == [5, 6]
    ring = panel.nodes.data["pen"][5].color().getRgb()[:3]
    assert ring == cluster_color(2)  # the second community's colour
    plain = panel.nodes.data["pen"][0].color().getRgb()[:3]
    assert plain != cluster_color(2) and plain != cluster_color(0)
    # the ground-truth toggle, and back
    panel.truth_box.setChecked(True)
    truth = panel._truth_codes()
    assert drawn_brushes(panel) == [cluster_color(int(k)) for k in truth]
    assert not panel.mixed.any()
    panel.truth_box.setChecked(False)
    assert drawn_brushes(panel) == want
    # a new run: back to the uncoloured (ground truth) picture, layout kept
    panel.clear_fit()
    assert panel.memberships is None and panel.xy is not None
    assert drawn_brushes(panel) == [cluster_color(int(k)) for k in truth]


def test_click_selects_a_node_highlights_its_links_and_emits(qtbot, panel, karate):
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    panel.show_snapshot(fake_snapshot(34), None)
    qtbot.wait(50)
    node = 33  # the hub of the second club
    at = node_screen_point(panel, node)
    with qtbot.waitSignal(panel.node_selected, timeout=2000) as blocker:
        qtbot.mouseClick(panel.pw.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert blocker.args == [node]
    assert panel.selected == node
    deg = int((karate.edges == node).any(1).sum())
    assert panel.highlighted_links == deg
    hx, hy = panel.halo.getData()
    assert np.allclose([hx[0], hy[0]], panel.xy[node])
    # a click far from every node clears the selection
    corner = QPoint(3, 3)
    with qtbot.waitSignal(panel.node_selected, timeout=2000) as blocker:
        qtbot.mouseClick(panel.pw.viewport(), Qt.MouseButton.LeftButton, pos=corner)
    assert blocker.args == [-1]
    assert panel.highlighted_links == 0


def test_hover_names_the_node_its_degree_and_top_three_memberships(qtbot, panel, karate):
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    snap = fake_snapshot(34, K=4)
    panel.show_snapshot(snap, None)
    qtbot.wait(50)
    node = 5
    qtbot.mouseMove(panel.pw.viewport(), node_screen_point(panel, node))
    qtbot.waitUntil(lambda: panel.hover.text().startswith("node 5"), timeout=2000)
    text = panel.hover.text()
    deg = int((karate.edges == node).any(1).sum())
    assert f"degree {deg}" in text
    assert "memberships: 0: 0.50, 2: 0.40, 1: 0.10" in text
    assert "club: Mr. Hi" in text


def test_temporal_snapshot_draws_that_snapshots_links(panel):
    data = load_temporal(SAMPLE / "planted_contacts" / "counts.csv")
    panel.set_data(data)
    assert panel.slider.isVisibleTo(panel)
    panel.set_layout(L.compute_layout(data, L.LayoutSettings(iterations=20)))
    agg = data.aggregate()
    x, _ = panel.links.getData()
    assert len(x) == 2 * (agg.nnz // 2)
    t = 3
    panel.set_snapshot_index(t)
    x, _ = panel.links.getData()
    pairs = {(int(a), int(b)) for a, b, s in zip(data.i, data.j, data.t) if s == t}
    assert len(x) == 2 * len(pairs)
    assert panel.slider.value() == t + 1 and "snapshot 3" in panel.slider_label.text()
    # the slider drives the same method
    panel.slider.setValue(0)
    assert panel.snapshot_index is None
    x, _ = panel.links.getData()
    assert len(x) == 2 * (agg.nnz // 2)
    with pytest.raises(ValueError, match="outside"):
        panel.set_snapshot_index(data.T)


def test_above_the_interactive_size_a_uniform_sample_with_a_note(panel, monkeypatch):
    data = load_network(SAMPLE / "football" / "edges.csv")
    monkeypatch.setattr(NetworkPanel, "MAX_NODES", 50)
    monkeypatch.setattr(NetworkPanel, "MAX_LINKS", 40)
    panel.set_data(data)
    panel.set_layout(L.compute_layout(data, L.LayoutSettings(iterations=20)))
    assert len(panel.nodes.data) == 50
    note = panel.note.text()
    assert "uniform sample of 50 of 115 nodes" in note
    x, _ = panel.links.getData()
    assert len(x) <= 2 * 40
    inside = set(panel.shown.tolist())
    assert all(int(a) in inside and int(b) in inside for a, b in panel._pairs)


def test_table_data_says_the_view_is_for_networks(panel):
    from explorer.data.synthetic import gaussian_blobs

    panel.set_data(gaussian_blobs(30))
    assert not panel.applies()
    assert "for networks" in panel.message.textItem.toPlainText()


def test_export_png_and_svg(panel, karate, tmp_path):
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    panel.show_snapshot(fake_snapshot(34, K=2, mixed=()), None)
    png = panel.export(tmp_path / "net.png", title="karate, test")
    img = QImage(str(png))
    assert img.width() == 2 * NetworkPanel.EXPORT_SIZE[0]
    colours = {
        img.pixelColor(x, y).getRgb()[:3]
        for x in range(0, img.width(), 4)
        for y in range(0, img.height(), 4)
    }
    assert cluster_color(0) in colours and cluster_color(1) in colours
    svg = panel.export(tmp_path / "net.svg")
    text = svg.read_text()
    assert "<svg" in text and text.count("<path") + text.count("<ellipse") > 34


def test_layout_job_runs_off_the_gui_thread_and_can_be_cancelled(qtbot, karate):
    job = layout_job(1, karate, L.LayoutSettings(iterations=50), use_cache=False)
    seen = []
    job.worker.yielded.connect(lambda _id, p: seen.append(p))
    with qtbot.waitSignal(job.worker.returned, timeout=60_000) as blocker:
        job.start()
    assert job.thread.wait()
    xy = blocker.args[1]
    assert np.array_equal(
        xy, L.compute_layout(karate, L.LayoutSettings(iterations=50), use_cache=False)
    )
    assert seen and seen[-1].iteration == seen[-1].total
    big = load_network(SAMPLE / "football" / "edges.csv")
    job2 = layout_job(2, big, L.LayoutSettings(iterations=100_000), use_cache=False)
    job2.worker.yielded.connect(
        lambda _id, p: job2.cancel() if p.iteration == 3 else None,
        Qt.ConnectionType.DirectConnection,
    )
    with qtbot.waitSignal(job2.worker.errored, timeout=60_000) as blocker:
        job2.start()
    assert isinstance(blocker.args[1], L.LayoutCancelled)
    assert job2.thread.wait()


def test_a_real_ammsb_snapshot_colours_the_nodes(panel, karate):
    from explorer import api

    res = api.fit("ammsb", karate, seed=0, K=2, max_iter=20)
    snap = res.model.snapshot()
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    panel.show_snapshot(snap, type(res.model))
    top = snap["memberships"].argmax(1)
    assert drawn_brushes(panel) == [cluster_color(int(k)) for k in top]
    assert panel.mixed.sum() == int((snap["memberships"].max(1) < panel.MIXED_THRESHOLD).sum())


def test_a_snapshot_that_changes_no_colour_redraws_nothing(panel, karate):
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    snap = fake_snapshot(34)
    panel.show_snapshot(snap, None)
    drawn = panel.nodes.data
    same = {"labels": snap["labels"].copy(), "memberships": snap["memberships"] * 0.999 + 0.001 / 3}
    panel.show_snapshot(same, None)
    assert panel.nodes.data is drawn
    moved = fake_snapshot(34, mixed=(5, 6, 7))
    panel.show_snapshot(moved, None)
    assert panel.nodes.data is not drawn and panel.mixed[7]


def test_a_node_selected_in_the_network_marks_its_row_in_the_adjacency(qtbot, panel, karate):
    from explorer import views
    from explorer.gui.plots import AdjacencyPanel, SimplexPanel

    adj = AdjacencyPanel()
    simplex = SimplexPanel()
    qtbot.addWidget(adj)
    qtbot.addWidget(simplex)
    snap = fake_snapshot(34)
    for p in (panel, adj, simplex):
        p.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    for p in (panel, adj, simplex):
        p.show_snapshot(snap, None)
    # the wiring the window uses (see the report of issue 25's layout branch)
    panel.node_selected.connect(adj.select_node)
    panel.node_selected.connect(lambda i: simplex.set_selection(None if i < 0 else np.array([i])))
    panel.select_node(7)
    order, _ = views.community_order(np.asarray(snap["labels"]), snap["memberships"])
    rank = int(np.flatnonzero(order == 7)[0])
    x, y = adj.selection_lines.getData()
    assert x[0] == x[1] == rank + 0.5 and y[2] == y[3] == rank + 0.5
    assert simplex.highlighted == 1
    panel.select_node(-1)
    x, _ = adj.selection_lines.getData()
    assert x is None or len(x) == 0
    assert simplex.highlighted == 0


def test_aggregated_view_draws_one_node_per_community(qtbot, panel, karate):
    panel.set_data(karate)
    xy = L.compute_layout(karate)
    panel.set_layout(xy)
    snap = fake_snapshot(34, K=3, mixed=())
    panel.show_snapshot(snap, None)
    panel.aggregate_box.setChecked(True)
    assert panel.aggregated
    codes = snap["memberships"].argmax(1)
    assert len(panel.nodes.data) == 3
    for k in range(3):
        assert np.allclose(panel.aggregate_centres[k], xy[codes == k].mean(0))
    assert drawn_brushes(panel) == [cluster_color(k) for k in range(3)]
    x, _ = panel.links.getData()
    pairs = {
        tuple(sorted((int(codes[a]), int(codes[b]))))
        for a, b in karate.edges
        if codes[a] != codes[b]
    }
    assert len(x) == 2 * len(pairs)  # every pair is strong enough here
    assert "Aggregated view: one node per community (3)" in panel.note.text()
    # hover names a community, a click selects no node
    assert panel.node_at(*xy[0]) == -1
    text = panel._describe_community_at(*panel.aggregate_centres[1])
    assert text == f"community 1: {int((codes == 1).sum())} nodes"
    panel.aggregate_box.setChecked(False)
    assert len(panel.nodes.data) == 34
    x, _ = panel.links.getData()
    assert len(x) == 2 * karate.n_edges


def test_layout_progress_slots_draw_small_networks_as_they_form(qtbot, panel, karate):
    panel.set_data(karate)
    gen = L.layout_steps(
        karate, L.LayoutSettings(iterations=30), use_cache=False, positions_every_s=0.0
    )
    first = next(gen)
    panel.on_layout_progress(first)
    assert panel.xy is not None and np.array_equal(panel.xy, first.positions)
    # a stale job's coordinates (other data) are ignored, never an error
    panel.on_layout_progress(L.LayoutProgress(1, 2, 0.0, np.zeros((5, 2))))
    panel.on_layout_finished(np.zeros((5, 2)))
    assert panel.xy.shape == (34, 2)
    xy = L.compute_layout(karate, L.LayoutSettings(iterations=30), use_cache=False)
    panel.on_layout_finished(xy)
    assert np.array_equal(panel.xy, xy)


def test_big_networks_show_progress_not_every_intermediate_layout(panel, monkeypatch, karate):
    monkeypatch.setattr(NetworkPanel, "LIVE_LAYOUT_NODES", 10)
    panel.set_data(karate)
    panel.on_layout_progress(L.LayoutProgress(3, 10, 0.1, np.ones((34, 2))))
    assert panel.xy is None
    assert "30%" in panel.message.textItem.toPlainText()
    panel.on_layout_progress(L.LayoutProgress(10, 10, 0.1, np.ones((34, 2)), from_cache=True))
    assert panel.xy is not None


def test_layout_job_drives_the_panel_through_its_slots(qtbot, panel, karate):
    """What the window does on load: the job's signals to the panel's slots (queued: the panel
    is drawn on the GUI thread only)."""
    from PySide6.QtCore import QObject

    class Receiver(QObject):  # bound methods of a GUI-thread object: queued, as the window's
        def progress(self, _id, p):
            panel.on_layout_progress(p)

        def finished(self, _id, xy):
            panel.on_layout_finished(xy)

    receiver = Receiver()
    panel.set_data(karate)
    job = layout_job(1, karate, L.LayoutSettings(iterations=40), use_cache=False)
    job.worker.yielded.connect(receiver.progress, Qt.ConnectionType.QueuedConnection)
    job.worker.returned.connect(receiver.finished, Qt.ConnectionType.QueuedConnection)
    with qtbot.waitSignal(job.worker.returned, timeout=60_000) as blocker:
        job.start()
    assert job.thread.wait()
    qtbot.waitUntil(
        lambda: panel.xy is not None and np.array_equal(panel.xy, blocker.args[1]), timeout=5_000
    )
    assert len(panel.nodes.data) == 34


def test_many_links_hide_while_the_view_moves_and_come_back(qtbot, panel, karate, monkeypatch):
    monkeypatch.setattr(NetworkPanel, "HIDE_LINKS_ON_MOVE", 10)
    panel.set_data(karate)
    panel.set_layout(L.compute_layout(karate))
    qtbot.waitUntil(lambda: panel.links.isVisible(), timeout=2000)
    (x0, x1), (y0, y1) = panel.plot.vb.viewRange()
    panel.plot.vb.setRange(xRange=(x0 + 1, x1 + 1), yRange=(y0, y1), padding=0)
    assert not panel.links.isVisible()
    qtbot.waitUntil(lambda: panel.links.isVisible(), timeout=2000)
    monkeypatch.setattr(NetworkPanel, "HIDE_LINKS_ON_MOVE", 1_000)  # few links: kept
    panel.plot.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
    assert panel.links.isVisible()
