"""Helpers that serve one chapter each, in the book's order (the library proper is one level up).

1 ``diagrams``, ``latent`` (also 2); 2 ``encoder_gaussian``; 3 ``kl_fits``;
4 ``linear_gaussian``, ``bayes_rewrite``, ``gradients``; 5 ``closed_form_kl``; 6 ``diagnostics``, ``eq8_controls``;
7 ``elbo_gap``; 8 ``rate_distortion``, ``gaussian_channel``.
"""
from . import bayes_rewrite, closed_form_kl, diagnostics, diagrams, encoder_gaussian, gradients, kl_fits, latent
from . import elbo_gap, eq8_controls, gaussian_channel, linear_gaussian, rate_distortion

__all__ = ["bayes_rewrite", "closed_form_kl", "diagnostics", "diagrams", "elbo_gap", "encoder_gaussian", "eq8_controls",
           "gaussian_channel", "gradients", "kl_fits", "latent", "linear_gaussian", "rate_distortion"]
