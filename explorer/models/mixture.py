"""The template the bundled mixtures share (:class:`MixtureModel`, defined in ``_mixture.py``),
for mixtures written outside the package: ``from explorer.models.mixture import MixtureModel``
(docs/adding-a-model.md builds the Poisson mixture of examples/poisson-mixture on it).

A subclass sets ``X`` (through ``MixtureModel._prepare``), ``resp``, ``weights`` and ``loglik``
and fills in ``_m_step()`` and ``_e_pass()``; ``step()``, the views, the metrics and the
degeneracy check come from the template (see ``_mixture.py``'s docstring)."""

from explorer.models._mixture import MixtureModel

__all__ = ["MixtureModel"]
