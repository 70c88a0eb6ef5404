"""vae_lib: the shared package of the executable book on variational inference.

The library, at the top level (no module here imports from ``chapters`` or ``book``):
``data`` (embedded and full MNIST), ``params`` (the one parameterisation and its
named conversions), ``models`` (AE, VAE), ``divergences`` (the KLs), ``objectives`` (likelihoods, losses),
``training``, ``evaluation``, ``plotting``; ``_checks`` holds the argument checks and
the validation switch (``set_validation``).

``vae_lib.chapters``: the helpers that serve one chapter each (figures, toy models,
diagnostics); each module's docstring names the chapter that introduced it.

``vae_lib.book``: the book's machinery: chapter set-up, ``glue``, ``claim`` and
``holds``, and the explorers that run in the page (``vae_lib.book.live``).

``import vae_lib`` loads the core only; ``book``, ``chapters`` and ``plotting`` (and so
matplotlib) load when first named. Chapters import them by name.

The speed benchmark lives outside the package: ``python benchmarks/bench.py``.
"""
import importlib

from . import checkpoints, data, divergences, evaluation, models, objectives, params, runtime, training
from ._checks import set_validation, validation
from .models import VAE, AutoEncoder, ModelConfig, reparameterize

# The front door loads only the core: no chapter helper, no book machinery and no matplotlib
# (tests/test_layout.py). These load on first use, so ``vae_lib.book.setup`` still works.
_ON_DEMAND = ("book", "chapters", "plotting")


def __getattr__(name: str):
    if name in _ON_DEMAND:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__version__ = "0.2.0"
__all__ = [
    "AutoEncoder", "ModelConfig", "VAE", "book", "chapters", "checkpoints", "data", "evaluation", "models",
    "divergences", "objectives", "params", "plotting", "reparameterize", "runtime", "set_validation", "training", "validation",
]
