"""The live plots (pyqtgraph), one module per panel. Each panel keeps its plot items and only calls
setData/setImage.

Panels share one small interface the window drives:

* ``set_data(data)``: new data loaded (draw it uncoloured, forget the previous fit);
* ``show_snapshot(snapshot, model_cls)``: draw a model snapshot (keys documented in
  ``explorer.models.base.Model.snapshot``); the window calls this at most about once a second
  during a fit, and once more with the final state;
* ``export(path)``: PNG or SVG by the file's suffix.

The view transforms (PCA, simplex, community order, adjacency binning) are in
:mod:`explorer.views`; nothing here does numerics beyond indexing.

Modules: :mod:`.base` (palette, dot item, :class:`PlotPanel`), :mod:`.trace`, :mod:`.data_view`,
:mod:`.simplex`, :mod:`.adjacency`, :mod:`.confusion`, :mod:`.network`. The names are re-exported
here, so ``from explorer.gui.plots import TracePanel`` keeps working.
"""

from explorer.gui.plots.adjacency import AdjacencyPanel
from explorer.gui.plots.base import (
    DISPLAY_POINTS,
    GREY,
    PALETTE,
    SIMPLEX_POINTS,
    PlotPanel,
    PointCloudItem,
    cluster_color,
)
from explorer.gui.plots.confusion import ConfusionPanel
from explorer.gui.plots.data_view import DataViewPanel, SelectViewBox, points_in_polygon
from explorer.gui.plots.network import NetworkPanel, layout_job
from explorer.gui.plots.simplex import SimplexPanel
from explorer.gui.plots.trace import (
    IterationAxis,
    ObjectiveAxis,
    TracePanel,
    metric_label,
    offset_for,
    offset_label,
    tick_texts,
)

__all__ = [
    "AdjacencyPanel",
    "ConfusionPanel",
    "DataViewPanel",
    "DISPLAY_POINTS",
    "GREY",
    "IterationAxis",
    "NetworkPanel",
    "ObjectiveAxis",
    "PALETTE",
    "PlotPanel",
    "PointCloudItem",
    "SelectViewBox",
    "SIMPLEX_POINTS",
    "SimplexPanel",
    "TracePanel",
    "layout_job",
    "cluster_color",
    "metric_label",
    "offset_for",
    "offset_label",
    "points_in_polygon",
    "tick_texts",
]
