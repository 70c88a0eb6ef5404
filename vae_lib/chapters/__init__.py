"""Helpers that serve one chapter each, in the book's order (the library proper is one level up).

1 ``diagrams``, ``latent``, ``code_plane`` (also 2); 2 ``encoder_gaussian``; 3 ``kl_fits``;
4 ``linear_gaussian``, ``bayes_rewrite``, ``gradients``; 5 ``closed_form_kl``; 6 ``diagnostics``, ``eq8_controls``;
7 ``elbo_gap``, ``full_gaussian``; 8 ``rate_distortion``, ``beta_sweep``, ``gaussian_channel``.

Each loads when first imported (``from vae_lib.chapters import latent``): importing one
chapter's helpers does not load the other chapters'.
"""
import importlib

__all__ = ["bayes_rewrite", "beta_sweep", "closed_form_kl", "code_plane", "diagnostics", "diagrams", "elbo_gap",
           "encoder_gaussian", "eq8_controls", "full_gaussian", "gaussian_channel", "gradients", "kl_fits", "latent",
           "linear_gaussian", "rate_distortion"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
