"""A Poisson mixture for the latent-model explorer (the model is in :mod:`poisson_mixture.model`,
which the ``explorer.models`` entry point names)."""
