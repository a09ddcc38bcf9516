"""The Python API: the same models, loaders and export as the CLI and the window.

    >>> import explorer
    >>> data = explorer.load("sample_data/iris.csv", labels="species")
    >>> result = explorer.fit("kmeans", data, K=3, seed=0)
    >>> result.metrics["nmi"] > 0.7
    True
"""

from __future__ import annotations

from explorer import runner
from explorer.export import export_result
from explorer.models import get_model
from explorer.models.base import Model


def load(path, kind: str | None = None, **options):
    """Load a table, network or temporal network (kind guessed from the file when None).

    Options: ``columns``, ``labels``, ``standardize`` (tables); ``directed``, ``labels``,
    ``test_pairs`` (networks); ``directed``, ``bin_width``, ``labels`` (temporal networks).
    """
    from explorer.data import load as _load
    return _load(path, kind=kind, **options)


def fit(model: str | type[Model] | Model, data, *, seed: int = 0, max_iter: int | None = None,
        tol: float | None = None, callback=None, control: runner.RunControl | None = None,
        **hyperparameters) -> runner.FitResult:
    """Fit a model (an id such as ``"gmm"``, a class, or an instance) to loaded data or a path."""
    if isinstance(model, str):
        model = get_model(model)
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        kinds = model.data_kinds
        data = load(data, kind=kinds[0] if len(kinds) == 1 else None)
    if isinstance(model, type):
        model = model(model.Hyperparameters.from_mapping(hyperparameters))
    elif hyperparameters:
        raise TypeError("pass hyperparameters with a model id or class, not an instance")
    return runner.fit(model, data, seed=seed, max_iter=max_iter, tol=tol, callback=callback,
                      control=control)


def export(result: runner.FitResult, out_dir):
    """Write result.json, parameters.npz, assignments.csv (+ GraphML for networks)."""
    return export_result(result, out_dir)
