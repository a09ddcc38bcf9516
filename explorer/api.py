"""The Python API: the same models, loaders, checks and export as the CLI and the window.

    >>> import explorer
    >>> data = explorer.load("sample_data/iris.csv", labels="species")
    >>> result = explorer.fit("kmeans", data, K=3, seed=0)
    >>> result.metrics["nmi"] > 0.7
    True

Bad input raises ``explorer.DataError`` (data) or ``explorer.HyperparameterError``
(hyperparameters, the seed), each with a one-line message, as the CLI prints them.
"""

from __future__ import annotations

from explorer import runner
from explorer.data.types import DataError
from explorer.export import LoadedResult, export_result  # the API's export, as it is
from explorer.export import load_result as _load_result
from explorer.models import get_model
from explorer.models.base import HyperparameterError, Model, check_seed

__all__ = ["DataError", "HyperparameterError", "export_result", "fit", "load", "load_result"]


def load(path, kind: str | None = None, **options):
    """Load a table, network or temporal network (kind guessed from the file when None).

    Options: ``columns``, ``labels``, ``standardize`` (tables); ``directed``, ``labels``,
    ``test_pairs`` (networks); ``directed``, ``bin_width``, ``labels`` (temporal networks).
    """
    from explorer.data import load as _load

    return _load(path, kind=kind, **options)


def fit(
    model: str | type[Model] | Model,
    data,
    *,
    seed: int = 0,
    max_iter: int | None = None,
    tol: float | None = None,
    callback=None,
    control: runner.RunControl | None = None,
    kind: str | None = None,
    **hyperparameters,
) -> runner.FitResult:
    """Fit a model (an id such as ``"gmm"``, a class, or an instance) to loaded data or a path.

    A path is read as the kind the model takes, with the CLI's check that the file is not clearly
    another kind (``kind`` forces it, like ``--kind``). ``seed`` is a non-negative integer.
    """
    if isinstance(model, str):
        try:
            model = get_model(model)
        except KeyError as e:
            raise HyperparameterError(e.args[0]) from None
    seed = check_seed(seed)
    if isinstance(model, type):
        model = model(model.Hyperparameters.from_mapping(hyperparameters))
    elif hyperparameters:
        raise TypeError("pass hyperparameters with a model id or class, not an instance")
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        from explorer.data import kind_for_model

        kind = kind_for_model(data, model.data_kinds, model_id=model.id, kind=kind)
        data = load(data, kind=kind)
    return runner.fit(
        model, data, seed=seed, max_iter=max_iter, tol=tol, callback=callback, control=control
    )


def load_result(out_dir) -> LoadedResult:
    """Read an exported set back, checking its files belong together (raises DataError)."""
    return _load_result(out_dir)
