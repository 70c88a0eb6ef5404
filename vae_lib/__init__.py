"""vae_lib: the shared package of the executable book on variational inference.

Modules: ``data`` (embedded and full MNIST), ``params`` (the one parameterisation
and its conversions), ``models`` (AE, VAE), ``objectives`` (KLs, likelihoods,
losses), ``training``, ``evaluation``, ``plotting``, ``widgets``, ``book``.
"""
from . import book, data, evaluation, models, objectives, params, plotting, training, widgets
from .models import VAE, AutoEncoder, ModelConfig, reparameterize

__version__ = "0.1.0"
__all__ = ["AutoEncoder", "ModelConfig", "VAE", "book", "data", "evaluation", "models", "objectives",
           "params", "plotting", "reparameterize", "training", "widgets"]
