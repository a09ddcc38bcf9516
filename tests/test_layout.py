"""The force-directed layout (explorer.layout): quality against networkx's spring_layout, the
Barnes-Hut repulsion against the exact sum, seeds, cancel and the cache."""

from __future__ import annotations

import threading

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import checkout_env, drain, run_cli, run_python

from explorer import layout as L
from explorer.data import load_network, load_temporal
from explorer.data.synthetic import planted_partition
from tests.conftest import ROOT, SAMPLE


@pytest.fixture(autouse=True)
def layout_cache(tmp_path, monkeypatch):
    """Every test gets its own empty layout cache (never the user's)."""
    path = tmp_path / "layouts"
    monkeypatch.setenv("EXPLORER_LAYOUT_CACHE", str(path))
    return path


def karate():
    return load_network(SAMPLE / "karate" / "edges.csv", labels=f"{SAMPLE}/karate/nodes.csv:club")


def football():
    return load_network(
        SAMPLE / "football" / "edges.csv", labels=f"{SAMPLE}/football/nodes.csv:conference"
    )


def spring_ratio(data, seed: int = 0) -> float:
    g = nx.Graph()
    g.add_nodes_from(range(data.n_nodes))
    g.add_edges_from(map(tuple, data.edges.tolist()))
    pos = nx.spring_layout(g, seed=seed)
    xy = np.array([pos[i] for i in range(data.n_nodes)])
    return L.community_distance_ratio(xy, data.labels)


@pytest.mark.parametrize(
    "make",
    [karate, football, lambda: planted_partition(600, 6, 0.12, 0.01, seed=3)],
    ids=["karate", "football", "planted"],
)
def test_communities_drawn_at_least_as_apart_as_spring_layout(make):
    data = make()
    xy = L.compute_layout(data, use_cache=False)
    assert xy.shape == (data.n_nodes, 2) and np.isfinite(xy).all()
    ours = L.community_distance_ratio(xy, data.labels)
    ref = spring_ratio(data)
    assert ours <= 1.10 * ref, (ours, ref)
    # and clearly below 1 (a random picture gives about 1)
    assert ours < 0.8


def test_random_positions_score_about_one():
    """The measure itself: a random picture does not separate communities."""
    data = football()
    xy = np.random.default_rng(0).uniform(size=(data.n_nodes, 2))
    assert 0.9 < L.community_distance_ratio(xy, data.labels) < 1.1


def exact_repulsion(x, y, mass, kr):
    dx = x[:, None] - x[None, :]
    dy = y[:, None] - y[None, :]
    d2 = dx * dx + dy * dy
    np.fill_diagonal(d2, np.inf)
    f = mass[None, :] / d2
    return kr * mass * (f * dx).sum(1), kr * mass * (f * dy).sum(1)


@pytest.mark.parametrize("theta, tol", [(0.0, 1e-9), (0.5, 0.05)])
def test_barnes_hut_repulsion_matches_the_exact_sum(theta, tol):
    rng = np.random.default_rng(1)
    n = 500
    x, y = rng.normal(size=n) * 10, rng.normal(size=n) * 10
    x[:5] += 200  # a far cluster, so the tree has depth and far cells
    mass = rng.integers(1, 20, n).astype(float)
    a = sp.csr_matrix((n, n))
    engine = L._Engine(a, L.LayoutSettings(theta=theta), mass, np.column_stack([x, y]))
    used = L._build_tree(
        engine.x,
        engine.y,
        mass,
        engine.child,
        engine.body,
        engine.cx,
        engine.cy,
        engine.half,
        engine.cmass,
        engine.comx,
        engine.comy,
    )
    assert used > n  # internal cells exist
    k = L._leaf_order(engine.child, engine.body, engine.order)
    assert k == n and sorted(engine.order.tolist()) == list(range(n))
    L._repulsion(
        engine.x,
        engine.y,
        mass,
        2.0,
        theta * theta,
        engine.order,
        engine.child,
        engine.body,
        engine.half,
        engine.cmass,
        engine.comx,
        engine.comy,
        engine.fx,
        engine.fy,
    )
    ex, ey = exact_repulsion(x, y, mass, 2.0)
    err = np.hypot(engine.fx - ex, engine.fy - ey) / np.hypot(ex, ey)
    assert np.median(err) < tol, np.median(err)


def test_tree_survives_coincident_points():
    """Nodes at the same place share a leaf at the depth limit instead of splitting forever."""
    n = 50
    xy = np.zeros((n, 2))
    xy[25:] = 1.0
    mass = np.ones(n)
    engine = L._Engine(sp.csr_matrix((n, n)), L.LayoutSettings(), mass, xy)
    engine.step()
    assert np.isfinite(engine.positions()).all()


def test_same_seed_same_coordinates_other_seed_others():
    data = football()
    a = L.compute_layout(data, L.LayoutSettings(seed=4), use_cache=False)
    b = L.compute_layout(data, L.LayoutSettings(seed=4), use_cache=False)
    c = L.compute_layout(data, L.LayoutSettings(seed=5), use_cache=False)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_same_seed_same_coordinates_in_another_process():
    data = planted_partition(3000, 10, 0.02, 0.001, seed=2)  # big enough for several levels
    here = L.compute_layout(data, L.LayoutSettings(seed=1, iterations=30), use_cache=False)
    code = (
        "import numpy as np, sys; from explorer import layout as L; "
        "from explorer.data.synthetic import planted_partition; "
        "d = planted_partition(3000, 10, 0.02, 0.001, seed=2); "
        "xy = L.compute_layout(d, L.LayoutSettings(seed=1, iterations=30), use_cache=False); "
        "sys.stdout.write(xy.tobytes().hex())"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NUMBA_NUM_THREADS": "1"}
    out = run_python("-c", code, env=env, check=True, timeout=600)
    there = np.frombuffer(bytes.fromhex(out.stdout), dtype=np.float64).reshape(-1, 2)
    assert np.array_equal(here, there)  # also with another number of threads


def test_progress_is_reported_and_generator_returns_coordinates():
    data = karate()
    gen = L.layout_steps(
        data, L.LayoutSettings(iterations=40), use_cache=False, positions_every_s=0.0
    )
    seen, xy = drain(gen)
    assert [p.iteration for p in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].iteration == seen[-1].total == len(seen)
    assert all(p.positions is not None and p.positions.shape == (34, 2) for p in seen)
    assert np.array_equal(seen[-1].positions, xy)


def test_cancel_stops_between_iterations_and_caches_nothing(layout_cache):
    data = football()
    stop = threading.Event()
    done = []

    def progress(p):
        done.append(p.iteration)
        if p.iteration == 5:
            stop.set()

    with pytest.raises(L.LayoutCancelled, match="after 5 of"):
        L.compute_layout(data, progress=progress, cancel=stop)
    assert done == [1, 2, 3, 4, 5]
    assert not layout_cache.exists() or not list(layout_cache.iterdir())
    # a callable works as well
    with pytest.raises(L.LayoutCancelled, match="after 0 of"):
        L.compute_layout(data, cancel=lambda: True)


def test_cache_hit_returns_the_same_array(layout_cache):
    data = football()
    first = L.compute_layout(data)
    files = list(layout_cache.glob("*.npy"))
    assert len(files) == 1
    steps = list(drain(L.layout_steps(data)))
    assert len(steps[0]) == 1 and steps[0][0].from_cache
    assert np.array_equal(steps[1], first)
    # Other settings, other key: computed again, stored beside it.
    other = L.compute_layout(data, L.LayoutSettings(seed=9))
    assert not np.array_equal(other, first)
    assert len(list(layout_cache.glob("*.npy"))) == 2
    # A damaged entry is ignored and rewritten, never returned.
    files[0].write_bytes(b"not a numpy file")
    again = L.compute_layout(data)
    assert np.array_equal(again, first)


def test_cache_key_follows_the_links_not_the_object(layout_cache):
    a = football()
    b = football()
    assert L.cache_key(L.layout_graph(a), L.LayoutSettings()) == L.cache_key(
        L.layout_graph(b), L.LayoutSettings()
    )
    b.weights = b.weights * 2
    assert L.cache_key(L.layout_graph(a), L.LayoutSettings()) != L.cache_key(
        L.layout_graph(b), L.LayoutSettings()
    )


def test_unwritable_cache_is_skipped(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("EXPLORER_LAYOUT_CACHE", str(blocker / "layouts"))
    xy = L.compute_layout(karate(), L.LayoutSettings(iterations=5))
    assert xy.shape == (34, 2)


def test_temporal_network_is_laid_out_by_its_aggregate():
    data = load_temporal(SAMPLE / "planted_contacts" / "counts.csv")
    g = L.layout_graph(data)
    agg = data.aggregate()
    assert abs(g - agg).sum() < 1e-9 and g.nnz == agg.nnz
    xy = L.compute_layout(data, L.LayoutSettings(iterations=20), use_cache=False)
    assert xy.shape == (data.n_nodes, 2) and np.isfinite(xy).all()


def test_directed_links_count_once_either_way():
    d = load_network(SAMPLE / "karate" / "edges.csv", directed=True)
    g = L.layout_graph(d)
    assert (g != g.T).nnz == 0 and g.diagonal().sum() == 0


def test_a_table_is_refused_with_a_clear_message():
    from explorer.data.synthetic import gaussian_blobs

    with pytest.raises(TypeError, match="a layout needs a network"):
        L.compute_layout(gaussian_blobs(20))


def test_isolated_nodes_and_tiny_graphs():
    a = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(4, 4))  # nodes 2, 3 isolated
    xy = L.compute_layout(a, L.LayoutSettings(iterations=50), use_cache=False)
    assert xy.shape == (4, 2) and np.isfinite(xy).all()
    one = L.compute_layout(sp.csr_matrix((1, 1)), use_cache=False)
    assert one.shape == (1, 2)


# ---- the GraphML export and `explorer fit --layout` ---------------------------------------------


def _karate_fit():
    from explorer import api

    return api.fit("ammsb", karate(), seed=0, K=2, max_iter=10)


def test_graphml_carries_the_layout_gephi_reads_and_networkx_reads_back(tmp_path):
    from explorer.export import write_graphml

    res = _karate_fit()
    xy = L.compute_layout(res.data)
    plain = nx.read_graphml(write_graphml(res, tmp_path / "plain.graphml"))
    g = nx.read_graphml(write_graphml(res, tmp_path / "laid.graphml", layout=xy))
    ids = [str(i) for i in res.data.node_ids]
    got = np.array([[g.nodes[i]["x"], g.nodes[i]["y"]] for i in ids])
    assert np.array_equal(got, xy)  # exact: shortest round-trip floats
    labels = res.model.labels()
    for n, i in enumerate(ids):
        attrs = g.nodes[i]
        assert (attrs["r"], attrs["g"], attrs["b"]) == L.community_rgb(int(labels[n]))
        assert all(isinstance(attrs[k], int) for k in "rgb")
        assert 4.0 <= attrs["size"] <= 20.0
        # everything else as without a layout
        assert {
            k: v for k, v in attrs.items() if k not in ("x", "y", "size", "r", "g", "b")
        } == plain.nodes[i]
    hub = ids[int(np.argmax(np.bincount(res.data.edges.ravel())))]
    assert g.nodes[hub]["size"] == 20.0
    assert set(g.edges) == set(plain.edges)
    text = (tmp_path / "laid.graphml").read_text()
    for key in ("x", "y", "size"):
        assert f'<key id="{key}" for="node" attr.name="{key}" attr.type="double" />' in text
    for key in "rgb":
        assert f'<key id="{key}" for="node" attr.name="{key}" attr.type="int" />' in text
    with pytest.raises(ValueError, match="for 34 nodes"):
        write_graphml(res, tmp_path / "bad.graphml", layout=xy[:3])


def test_graphml_layout_of_a_temporal_network(tmp_path):
    from explorer import api
    from explorer.export import write_graphml

    data = load_temporal(SAMPLE / "planted_contacts" / "counts.csv")
    res = api.fit("dynamic-exposure", data, seed=0, max_iter=3)
    xy = L.compute_layout(data, L.LayoutSettings(iterations=20))
    g = nx.read_graphml(write_graphml(res, tmp_path / "t.graphml", layout=xy))
    got = np.array([[g.nodes[str(i)]["x"], g.nodes[str(i)]["y"]] for i in data.node_ids])
    assert np.array_equal(got, xy)


def _cli(*args, cache):
    return run_cli(*args, env=checkout_env(EXPLORER_LAYOUT_CACHE=str(cache)), timeout=900)


def test_cli_fit_layout_writes_coordinates_into_the_graphml(tmp_path, layout_cache):
    out = tmp_path / "out"
    r = _cli(
        "fit",
        "ammsb",
        SAMPLE / "karate" / "edges.csv",
        "--K",
        "2",
        "--max-iter",
        "5",
        "--seed",
        "3",
        "--out",
        out,
        "--layout",
        "--quiet",
        cache=layout_cache,
    )
    assert r.returncode == 0, r.stderr
    g = nx.read_graphml(out / "communities.graphml")
    data = karate()
    want = L.compute_layout(data, L.LayoutSettings(seed=3))  # the CLI's cache entry
    got = np.array([[g.nodes[str(i)]["x"], g.nodes[str(i)]["y"]] for i in data.node_ids])
    assert np.array_equal(got, want)
    assert len(list(layout_cache.glob("*.npy"))) == 1  # one entry, shared


@pytest.mark.parametrize("extra", [[], ["--kind", "table"]], ids=["no-out", "table"])
def test_cli_layout_needs_a_network_and_out(tmp_path, layout_cache, extra):
    if extra:
        args = [
            "fit",
            "kmeans",
            SAMPLE / "iris.csv",
            "--K",
            "3",
            "--out",
            tmp_path / "o",
            "--layout",
        ]
    else:
        args = ["fit", "ammsb", SAMPLE / "karate" / "edges.csv", "--K", "2", "--layout"]
    r = _cli(*args, cache=layout_cache)
    assert r.returncode == 2
    assert "--layout draws a network into communities.graphml" in r.stderr
    assert "Traceback" not in r.stderr
