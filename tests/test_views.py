"""View transforms (explorer/views.py) checked against independent computations."""

import numpy as np
import pytest

from explorer import views


def test_pca_matches_scikit_learn_up_to_sign():
    # scikit-learn's PCA is an independent SVD-based implementation; projections agree to
    # round-off (1e-9 relative) once each axis' sign is aligned.
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 5)) @ rng.normal(size=(5, 5)) + 3.0
    p = views.PCAProjection(X)
    ref = PCA(n_components=5).fit(X)
    np.testing.assert_allclose(p.explained_ratio, ref.explained_variance_ratio_, rtol=1e-9)
    for pair in [(0, 1), (2, 4)]:
        ours = p.transform(X, pair)
        theirs = ref.transform(X)[:, list(pair)]
        signs = np.sign(np.sum(ours * theirs, axis=0))
        np.testing.assert_allclose(ours, theirs * signs, atol=1e-9 * np.abs(theirs).max())


def test_pca_covariance_projection_is_covariance_of_projection():
    # The covariance of projected points equals W^T S W exactly (linear map), up to round-off.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 4)) @ rng.normal(size=(4, 4))
    p = views.PCAProjection(X)
    Y = p.transform(X, (1, 3))
    S = np.cov(X.T)
    np.testing.assert_allclose(
        p.transform_cov(S[None], (1, 3))[0], np.cov(Y.T), rtol=1e-9, atol=1e-12
    )
    with pytest.raises(ValueError):
        p.axes((0, 4))


def test_ellipse_points_lie_on_the_mahalanobis_contour():
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    m = np.array([1.0, -2.0])
    pts = views.ellipse_points(m, cov, n_sigma=2.0, n=50)
    d = pts - m
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(maha, 4.0, rtol=1e-10)
    np.testing.assert_allclose(pts[0], pts[-1])


@pytest.mark.parametrize("K", [2, 3, 4, 7])
def test_simplex_vertices_and_projection(K):
    V = views.simplex_vertices(K)
    assert V.shape == (K, 2)
    # Vertices are distinct, equidistant from the centre (regular polygon / symmetric segment).
    r = np.linalg.norm(V, axis=1)
    np.testing.assert_allclose(r, 1.0, rtol=1e-12)
    if K >= 3:
        side = np.linalg.norm(V - np.roll(V, 1, axis=0), axis=1)
        np.testing.assert_allclose(side, side[0], rtol=1e-12)
    # A pure membership sits on its vertex; the uniform one at the centre.
    np.testing.assert_allclose(views.simplex_project(np.eye(K)), V, atol=1e-15)
    np.testing.assert_allclose(views.simplex_project(np.full((1, K), 1.0 / K))[0], 0.0, atol=1e-12)


def test_community_order_sorts_by_argmax_then_strength():
    M = np.array([[0.6, 0.4], [0.1, 0.9], [0.95, 0.05], [0.3, 0.7], [0.8, 0.2]])
    order, bounds = views.community_order(None, M)
    # community 0: nodes 2 (0.95), 4 (0.8), 0 (0.6); community 1: 1 (0.9), 3 (0.7)
    assert order.tolist() == [2, 4, 0, 1, 3]
    assert bounds.tolist() == [3]
    order, bounds = views.community_order(np.array(["b", "a", "b", "c"]))
    assert order.tolist() == [1, 0, 2, 3] and bounds.tolist() == [1, 3]


def test_bin_adjacency_exact_when_small_and_matches_dense_block_sums():
    rng = np.random.default_rng(3)
    n, E = 50, 300
    u = rng.integers(0, n, E)
    v = rng.integers(0, n, E)
    w = rng.uniform(0.5, 2.0, E)
    labels = rng.integers(0, 3, n)
    order, bounds = views.community_order(labels)
    # Independent reference: dense matrix, permuted, block-summed.
    A = np.zeros((n, n))
    np.add.at(A, (u, v), w)
    np.add.at(A, (v, u), w)
    P = A[np.ix_(order, order)]
    for B in (50, 7):
        img = views.bin_adjacency(u, v, w, n, order, bounds, max_pixels=B)
        assert img.image.dtype == np.uint8 and img.image.shape == (B, B)
        ref = np.zeros((B, B))
        pix = np.arange(n) * B // n
        np.add.at(ref, (pix[:, None], pix[None, :]), P)
        assert img.max_count == pytest.approx(ref.max(), rel=1e-12)
        # zero exactly where there is no edge; the maximum maps to 255; monotone in the count
        assert np.array_equal(img.image > 0, ref > 0)
        assert img.image[ref == ref.max()].min() == 255
        nz = ref > 0
        o = np.argsort(ref[nz], kind="stable")
        assert np.all(np.diff(img.image[nz][o].astype(int)) >= 0)
        # pixels map back to the nodes binned into them
        covered = np.concatenate([img.nodes_of_pixel(p) for p in range(B)])
        assert covered.tolist() == order.tolist()
        np.testing.assert_allclose(img.boundaries_px, bounds * B / n)


def test_bin_adjacency_large_network_is_linear_and_bounded():
    # 100,000 nodes, 500,000 edges: the image stays 1000 x 1000 and the weight is conserved.
    rng = np.random.default_rng(4)
    n, E = 100_000, 500_000
    u = rng.integers(0, n, E)
    v = rng.integers(0, n, E)
    order, bounds = views.community_order(rng.integers(0, 10, n))
    img = views.bin_adjacency(u, v, None, n, order, bounds, max_pixels=1000, log_scale=False)
    assert img.image.shape == (1000, 1000)
    assert len(img.nodes_of_pixel(999)) == 100


def test_display_sample_and_confusion():
    s = views.display_sample(100_000, 20_000, seed=5)
    assert len(s) == 20_000 and len(np.unique(s)) == 20_000 and np.all(np.diff(s) > 0)
    assert np.array_equal(s, views.display_sample(100_000, 20_000, seed=5))
    assert np.array_equal(views.display_sample(10, 20), np.arange(10))
    from explorer.metrics import contingency

    truth = np.array(["a", "b", "a", None, "c", "b"], dtype=object)
    pred = np.array([0, 1, 0, 2, 1, 1])
    c, rows, cols = views.confusion_table(truth, pred)
    ref, _, _ = contingency(truth[[0, 1, 2, 4, 5]].astype(str), pred[[0, 1, 2, 4, 5]])
    assert np.array_equal(c, ref) and rows.tolist() == ["a", "b", "c"]
    it, val = views.downsample_trace(np.arange(20000.0), 1000)
    assert it[-1] == 20000 and len(it) <= 1000
