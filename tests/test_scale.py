"""Scale limits the README states (issue 16)."""

import numpy as np
import pytest


def test_dynamic_exposure_refuses_a_network_beyond_its_dense_pair_limit():
    """Issue 16: dynamic-exposure keeps dense N x N pair arrays; beyond about 26,000 nodes it
    refuses clearly, before allocating anything (the README says so)."""
    from explorer.data.types import DataError, TemporalNetworkData
    from explorer.models import get_model

    n = 30_000
    ids = np.arange(n).astype(str)
    z = np.array([0, 0], dtype=np.int64)
    data = TemporalNetworkData(
        node_ids=ids,
        T=2,
        t=z,
        i=np.array([0, 1]),
        j=np.array([1, 2]),
        count=np.ones(2),
        times=np.arange(2.0),
        path="big.csv",
    )
    model = get_model("dynamic-exposure")(K_aff=2, K_exp=2)
    with pytest.raises(DataError, match="GiB"):
        model.check_data(data)


def _overlapping_one_by_one(pi, thr):
    """The a-MMSB's overlapping communities node by node (the loop the vectorised method
    replaced): memberships >= thr and the largest, in decreasing order, ties by index."""
    out = []
    for row in pi:
        ks = np.flatnonzero(row >= thr)
        top = int(np.argmax(row))
        if top not in ks:
            ks = np.append(ks, top)
        out.append([int(k) for k in ks[np.argsort(-row[ks], kind="stable")]])
    return out


@pytest.mark.parametrize("K, thr", [(50, 0.2), (3, 0.3), (10, 0.0), (10, 1.0), (1, 0.5)])
def test_ammsb_overlapping_communities_match_the_node_by_node_rule(K, thr):
    from explorer.models.ammsb import AMMSB

    rng = np.random.default_rng(K)
    pi = rng.dirichlet(np.full(K, 0.3), size=20_000)
    pi[:300] = np.round(pi[:300], 1)  # ties
    model = AMMSB(K=K, overlap_threshold=thr)
    model.pi, model.N = pi, len(pi)
    got = model.overlapping_communities()
    assert got == _overlapping_one_by_one(pi, thr)
    assert all(type(k) is int for row in got[:100] for k in row)
