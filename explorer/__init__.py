"""Latent-model explorer: clustering, mixtures and network community models, live.

Python API::

    import explorer
    data = explorer.load("sample_data/iris.csv", labels="species")
    result = explorer.fit("kmeans", data, K=3, seed=0)
    result.metrics["nmi"], result.model.parameters()["centers"]
    explorer.export_result(result, "out/")
    saved = explorer.load_result("out/")     # checks the set's files belong together
"""

from explorer._version import __version__

__all__ = [
    "DataError",
    "HyperparameterError",
    "__version__",
    "export_result",
    "fit",
    "load",
    "load_result",
]

_API = ("load", "fit", "export_result", "load_result", "DataError", "HyperparameterError")


def __getattr__(name):
    # The API is imported lazily so `import explorer.models` stays light. `explorer.export` is
    # the module explorer/export.py (a plain module: the function is `export_result`).
    if name in _API:
        from explorer import api

        return getattr(api, name)
    if name == "export":
        import importlib

        return importlib.import_module("explorer.export")
    raise AttributeError(name)
