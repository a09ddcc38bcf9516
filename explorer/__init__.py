"""Latent-model explorer: clustering, mixtures and network community models, live.

Python API::

    import explorer
    data = explorer.load("sample_data/iris.csv", labels="species")
    result = explorer.fit("kmeans", data, K=3, seed=0)
    result.metrics["nmi"], result.model.parameters()["centers"]
    explorer.export(result, "out/")
"""

__version__ = "0.1.0"

__all__ = ["__version__", "export", "fit", "load"]


def __getattr__(name):
    # The API is imported lazily so `import explorer.models` stays light.
    if name in ("load", "fit", "export"):
        from explorer import api
        return getattr(api, name)
    raise AttributeError(name)
