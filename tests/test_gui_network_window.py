"""The Network tab in the window, as a person uses it (issue 25): open a network, the layout forms
in the background, Run, click a node (its row and column in the adjacency, its memberships in the
simplex), move the time slider of a temporal network, export (the GraphML carries the layout)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
from helpers import export_to, run_to_end  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402

from explorer.models import registry  # noqa: E402


@pytest.fixture
def window(make_window, tmp_path, monkeypatch, dialogs):  # (dialogs: no box waits)
    monkeypatch.setenv("EXPLORER_LAYOUT_CACHE", str(tmp_path / "layouts"))
    return make_window(registry(), (1400, 900))


def click_node(qtbot, panel, node: int) -> None:
    scene = panel.plot.vb.mapViewToScene(QPointF(*panel.xy[node]))
    qtbot.mouseClick(
        panel.pw.viewport(), Qt.MouseButton.LeftButton, pos=panel.pw.mapFromScene(scene)
    )


def test_karate_network_view_through_a_fit_a_click_and_export(qtbot, window, sample_dir, tmp_path):
    assert window.open_file(sample_dir / "karate" / "edges.csv")
    panel = window.network_panel
    assert window.tabs.currentWidget() is panel  # the network itself first
    qtbot.waitUntil(lambda: panel.xy is not None and window.layout_job is None, timeout=120_000)
    assert window.select_model("ammsb")
    window.model_panel.set_run_settings({"max_iter": 30})
    result = run_to_end(qtbot, window, timeout=120_000)
    window.flush_plots()
    labels = np.asarray(result.model.labels())
    assert panel.memberships is not None
    node = int(np.argmax(panel.degree))
    click_node(qtbot, panel, node)
    assert panel.selected == node
    assert window.adjacency_panel.selected_node == node
    np.testing.assert_array_equal(window.simplex_panel.selection, [node])
    paths = export_to(qtbot, window, tmp_path / "out")
    g = nx.read_graphml(paths["graphml"])
    ids = window.data.node_ids
    xy = np.array([[g.nodes[str(i)]["x"], g.nodes[str(i)]["y"]] for i in ids])
    np.testing.assert_allclose(xy, panel.xy, rtol=1e-9)
    assert [g.nodes[str(i)]["community"] for i in ids] == labels.tolist()
    # Run again and open another file: the view follows, no layout job is left behind.
    run_to_end(qtbot, window, timeout=120_000)
    assert window.open_file(sample_dir / "iris.csv")
    assert window.layout_job is None and not panel.applies()


def test_temporal_network_view_follows_the_snapshot_slider(qtbot, window, sample_dir, tmp_path):
    assert window.open_file(sample_dir / "planted_contacts" / "counts.csv")
    assert window.data.kind == "temporal"
    panel = window.network_panel
    qtbot.waitUntil(lambda: panel.xy is not None, timeout=120_000)
    assert window.select_model("dynamic-exposure")
    window.model_panel.set_run_settings({"max_iter": 10})
    run_to_end(qtbot, window, timeout=120_000)
    window.flush_plots()
    window.adjacency_panel.slider.setValue(2)  # snapshot 1
    assert panel.snapshot_index == 1
    window.adjacency_panel.slider.setValue(0)  # the aggregate
    assert panel.snapshot_index is None
    click_node(qtbot, panel, 0)
    assert panel.selected == 0 and window.adjacency_panel.selected_node == 0
    paths = export_to(qtbot, window, tmp_path / "out")
    g = nx.read_graphml(paths["graphml"])  # the layout goes with the nodes
    node = str(window.data.node_ids[0])
    assert g.nodes[node]["x"] == pytest.approx(panel.xy[0, 0], rel=1e-9)


def test_the_finished_layout_is_all_in_view(qtbot, window, sample_dir):
    """The view fits the final layout, not the first positions of the forming one (karate was
    drawn zoomed in on a few nodes)."""
    assert window.open_file(sample_dir / "karate" / "edges.csv")
    panel = window.network_panel
    qtbot.waitUntil(lambda: panel.xy is not None and window.layout_job is None, timeout=120_000)
    (x0, x1), (y0, y1) = panel.plot.vb.viewRange()
    x, y = panel.xy[:, 0], panel.xy[:, 1]
    assert (x >= x0).all() and (x <= x1).all() and (y >= y0).all() and (y <= y1).all()
