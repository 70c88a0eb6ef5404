"""vae_lib: the shared package of the executable book on variational inference.

Core modules: ``data`` (embedded and full MNIST), ``params`` (the one
parameterisation and its named conversions), ``models`` (AE, VAE),
``objectives`` (KLs, likelihoods, losses), ``training``, ``evaluation``,
``plotting``, ``widgets`` (slider explorers), ``book`` (chapter set-up, glue).

Chapter modules (each introduced by the chapter named): ``diagrams``,
``latent`` (1, 2), ``encoder_gaussian`` (2), ``kl_fits`` (3),
``linear_gaussian``, ``bayes_rewrite``, ``gradients`` (4), ``gaussian_kl`` (5),
``diagnostics`` (6). ``python -m vae_lib.bench`` measures training speed.
"""
from . import (
    bayes_rewrite,
    book,
    data,
    diagnostics,
    diagrams,
    encoder_gaussian,
    evaluation,
    gaussian_kl,
    gradients,
    kl_fits,
    latent,
    linear_gaussian,
    models,
    objectives,
    params,
    plotting,
    training,
    widgets,
)
from ._checks import set_validation, validation
from .models import VAE, AutoEncoder, ModelConfig, reparameterize

__version__ = "0.2.0"
__all__ = [
    "AutoEncoder", "ModelConfig", "VAE", "bayes_rewrite", "book", "data", "diagnostics", "diagrams",
    "encoder_gaussian", "evaluation", "gaussian_kl", "gradients", "kl_fits", "latent", "linear_gaussian",
    "models", "objectives", "params", "plotting", "reparameterize", "set_validation", "training", "validation", "widgets",
]
