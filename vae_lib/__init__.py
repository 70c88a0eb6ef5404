"""vae_lib: the shared package of the executable book on variational inference.

The library, at the top level (no module here imports from ``chapters`` or ``book``):
``data`` (embedded and full MNIST), ``params`` (the one parameterisation and its
named conversions), ``models`` (AE, VAE), ``objectives`` (KLs, likelihoods, losses),
``training``, ``evaluation``, ``plotting``; ``_checks`` holds the argument checks and
the validation switch (``set_validation``).

``vae_lib.chapters``: the helpers that serve one chapter each (figures, toy models,
diagnostics); each module's docstring names the chapter that introduced it.

``vae_lib.book``: the book's machinery: chapter set-up, ``glue``, ``claim`` and
``holds``, and the explorers that run in the page (``vae_lib.book.live``).

The speed benchmark lives outside the package: ``python benchmarks/bench.py``.
"""
from . import book, chapters, data, evaluation, models, objectives, params, plotting, training
from ._checks import set_validation, validation
from .models import VAE, AutoEncoder, ModelConfig, reparameterize

__version__ = "0.2.0"
__all__ = [
    "AutoEncoder", "ModelConfig", "VAE", "book", "chapters", "data", "evaluation", "models", "objectives",
    "params", "plotting", "reparameterize", "set_validation", "training", "validation",
]
