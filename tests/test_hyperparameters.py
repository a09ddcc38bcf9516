"""One declaration drives validation, CLI flags and export: check the machinery on every model."""

import argparse
from dataclasses import dataclass

import pytest

from explorer import options
from explorer.models import registry
from explorer.models.base import HyperparameterError, HyperparametersBase, param


@dataclass(frozen=True)
class HP(HyperparametersBase):
    K: int = param(3, lo=1, hi=10, help="clusters")
    n_init: int = param(1, lo=1, hi=5, help="restarts")
    K_aff: int = param(2, lo=1, hi=9, help="affinity groups")
    tol_x: float = param(1e-3, lo=0.0, hi=1.0, log=True, help="a tolerance")
    harden: bool = param(False, help="hard assignments")
    init: str = param("a", choices=("a", "b"), help="initialisation")


def test_flags_keep_case_and_use_hyphens():
    from explorer.models.base import param_specs

    flags = [s.flag for s in param_specs(HP)]
    assert flags == ["--K", "--n-init", "--K-aff", "--tol-x", "--harden", "--init"]


def test_validation_messages_name_the_parameter():
    with pytest.raises(HyperparameterError, match="K = 0 is below its minimum 1"):
        HP(K=0)
    with pytest.raises(HyperparameterError, match="init = 'c' is not one of a, b"):
        HP(init="c")
    with pytest.raises(HyperparameterError, match="expected an integer"):
        HP.from_mapping({"K": "2.5"})
    with pytest.raises(HyperparameterError, match="unknown hyperparameter"):
        HP.from_mapping({"Q": 1})
    hp = HP.from_mapping({"K": "4", "harden": "true", "tol_x": "1e-5"})
    assert (hp.K, hp.harden, hp.tol_x) == (4, True, 1e-5)


def test_cli_options_generated_from_the_dataclass():
    class Fake:
        id = "fake"

        @staticmethod
        def param_specs():
            from explorer.models.base import param_specs

            return param_specs(HP)

        Hyperparameters = HP

    parser = argparse.ArgumentParser(allow_abbrev=False)
    options.add_hyperparameter_options(parser, Fake)
    ns = parser.parse_args(["--K", "5", "--K-aff", "3", "--n-init", "2", "--harden"])
    hp = options.hyperparameters_from_args(Fake, ns)
    assert (hp.K, hp.K_aff, hp.n_init, hp.harden, hp.init) == (5, 3, 2, True, "a")


def test_every_registered_model_declares_valid_defaults_and_builds_a_parser():
    models = registry()
    assert models, "no models registered"
    for model_id, cls in models.items():
        assert cls.id == model_id and cls.name and cls.description
        assert cls.objective_kind in (
            "distortion",
            "log-likelihood",
            "log-posterior",
            "ELBO",
            "held-out log-likelihood",
        )
        hp = cls.Hyperparameters()  # defaults validate
        assert set(hp.as_dict()) == {s.name for s in cls.param_specs()}
        for spec in cls.param_specs():
            assert spec.help, f"{model_id}.{spec.name} has no help"
        # A full fit parser: no hyperparameter may collide with the run and data options.
        parser = argparse.ArgumentParser(allow_abbrev=False)
        options.add_run_options(parser)
        options.add_data_options(parser)
        options.add_hyperparameter_options(parser, cls)


def test_register_models_fixture_registers_for_one_test_only(register_models):
    from fake_models import ShrinkModel

    from explorer.models import get_model, register, unregister

    with pytest.raises(KeyError, match="unknown model 'shrink'"):
        get_model("shrink")
    register_models(ShrinkModel)
    assert get_model("shrink") is ShrinkModel
    assert registry()["shrink"] is ShrinkModel

    class Impostor(ShrinkModel):
        pass

    with pytest.raises(TypeError, match="registered twice"):
        register(Impostor)
    unregister("shrink")  # what the fixture does when the test ends
    with pytest.raises(KeyError):
        get_model("shrink")
    unregister("shrink")  # forgetting twice is harmless (the fixture's teardown)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("K", True, "K: expected an integer, got True"),
        ("K", 2.5, "K: expected an integer, got 2.5"),
        ("K", [3], "K: expected an integer, got [3]"),
        ("K", None, "K: expected an integer, got None"),
        ("tol_x", False, "tol_x: expected a number, got False"),
        ("tol_x", "abc", "tol_x: expected a number, got 'abc'"),
        ("harden", [], "harden: expected true/false, got []"),
        ("harden", 2, "harden: expected true/false, got 2"),
        ("harden", "maybe", "harden: expected true/false, got 'maybe'"),
        ("init", 3, "init: expected one of a, b, got 3"),
    ],
)
def test_types_are_validated_one_message_each(field, value, message):
    """bool is not int (K=True once became K=1), a list is not a switch (harden=[] became
    False), and each bad value gives exactly one message naming the parameter."""
    for build in (lambda: HP(**{field: value}), lambda: HP.from_mapping({field: value})):
        with pytest.raises(HyperparameterError) as e:
            build()
        assert str(e.value) == message


def test_accepted_spellings_still_work():
    import numpy as np

    hp = HP(K=np.int64(4), n_init=2.0, tol_x=np.float32(0.5), harden=1, init="b")
    assert (hp.K, hp.n_init, hp.tol_x, hp.harden) == (4, 2, 0.5, True)
    assert type(hp.K) is int and type(hp.harden) is bool


@pytest.mark.parametrize(
    "seed, ok",
    [
        (0, True),
        (7, True),
        ("3", True),
        (-1, False),
        ("a", False),
        (True, False),
        (1.5, False),
        (None, False),
    ],
)
def test_seed_is_checked_by_the_api(seed, ok):
    import numpy as np
    from helpers import table

    import explorer

    data = table(np.arange(20.0).reshape(10, 2))
    if ok:
        assert explorer.fit("kmeans", data, K=2, seed=seed).seed == int(seed)
    else:
        with pytest.raises(explorer.HyperparameterError, match="^seed: expected a whole number"):
            explorer.fit("kmeans", data, K=2, seed=seed)
