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
    data = TemporalNetworkData(node_ids=ids, T=2, t=z, i=np.array([0, 1]), j=np.array([1, 2]),
                               count=np.ones(2), times=np.arange(2.0), path="big.csv")
    model = get_model("dynamic-exposure")(K_aff=2, K_exp=2)
    with pytest.raises(DataError, match="GiB"):
        model.check_data(data)
