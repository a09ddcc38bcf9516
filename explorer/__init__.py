"""Latent-model explorer: clustering, mixtures and network community models, live.

Python API::

    import explorer
    data = explorer.load("sample_data/iris.csv", labels="species")
    result = explorer.fit("kmeans", data, K=3, seed=0)
    result.metrics["nmi"], result.model.parameters()["centers"]
    explorer.export(result, "out/")
    saved = explorer.load_result("out/")     # checks the set's files belong together
"""

from explorer._version import __version__

__all__ = ["DataError", "HyperparameterError", "__version__", "export", "fit", "load",
           "load_result"]

_API = ("load", "fit", "export", "load_result", "DataError", "HyperparameterError")


def __getattr__(name):
    # The API is imported lazily so `import explorer.models` stays light. Importing it imports
    # the submodule explorer.export, which then shadows the name `export` here: that module is
    # callable (it exports), so `explorer.export(result, "out/")` works either way.
    if name in _API:
        from explorer import api
        return getattr(api, name)
    raise AttributeError(name)
