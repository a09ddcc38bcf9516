"""What restarts share is declared (``Model.shared_state``), and ``prepare`` checks the declaration
against what ``_prepare`` set (issue 24 item 6)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fake_models import ShrinkModel
from helpers import noise_table

from explorer import warmup
from explorer.models import registry
from explorer.models.base import SharedStateError
from explorer.models.kmedians import KMedians


class Undeclared(ShrinkModel):
    def _prepare(self, data):
        super()._prepare(data)
        self.scratch = np.zeros(3)  # set, not declared


class DeclaredNotSet(ShrinkModel):
    shared_state = ShrinkModel.shared_state + ("scaled",)


@pytest.mark.parametrize(
    "model, message",
    [
        (Undeclared, r"Undeclared\._prepare set scratch, which Undeclared\.shared_state does not"),
        (DeclaredNotSet, r"declares scaled, which DeclaredNotSet\._prepare did not set"),
    ],
    ids=["set but not declared", "declared but never set"],
)
def test_a_wrong_declaration_names_the_attribute(model, message):
    with pytest.raises(SharedStateError, match=message):
        model(K=2).prepare(noise_table())


def test_what_restarts_share_is_the_declaration():
    m = ShrinkModel(K=2)
    m.prepare(noise_table())
    assert sorted(m._prepared.shared) == ["groups", "targets"]
    new = m.spawn()
    assert new.targets is m.targets and new.groups is m.groups


def test_preparing_again_shares_what_prepare_set_even_when_unchanged():
    # Found by diffing vars(self) before and after _prepare, an attribute _prepare set to the very
    # object it held (the same data array on a second prepare) was left out of what the restarts
    # share, and a restart failed on it (AttributeError: _X).
    first = noise_table(seed=1)
    again = dataclasses.replace(first, labels=None)  # the same X array
    model = KMedians(K=2)
    model.prepare(first)
    model.prepare(again)
    restart = model.spawn()
    restart.initialize(again, 1)
    assert restart._X is model._X
    assert restart.step() >= 0.0


@pytest.mark.parametrize(
    "model_id", [m for m in registry() if registry()[m].__module__.startswith("explorer.models.")]
)
def test_every_bundled_model_declares_what_its_prepare_sets(model_id):
    cls = registry()[model_id]
    _, build, _ = warmup.variants(model_id)[0]
    data, hp = build()
    model = cls(**hp)
    model.prepare(data)  # raises SharedStateError on a mismatch
    assert list(model._prepared.shared) == list(cls.shared_state)
    assert len(set(cls.shared_state)) == len(cls.shared_state), "a name declared twice"
