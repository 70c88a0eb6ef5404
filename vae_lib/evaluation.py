"""Evaluation: the held-out ELBO and an importance-sampled estimate of log p(x).

Both are reported in nats per image, under a named decoder likelihood. With the
Bernoulli decoder on grey-level pixels (the default, as in pytorch/examples), the
cross-entropy is not a normalised density, so neither figure bounds a true
log-likelihood; ``likelihood="continuous_bernoulli"`` adds the normaliser and makes
both real bounds (final-loss chapter).
"""
from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from ._checks import (
    check_choice,
    check_generator,
    check_instance,
    check_int,
    check_positive_int,
    check_positive_number,
    check_tensor,
)
from .models import VAE, reparameterize
from .objectives import LIKELIHOODS, ElboTerms, log_likelihood, negative_elbo, normal_log_prob


def _check_model_and_data(model: object, x: object, seed: object = 0) -> None:
    check_instance("model", model, VAE, "a vae_lib.VAE")
    check_tensor("x", x)
    if not -(2**63) <= check_int("seed", seed) < 2**64:  # what torch.Generator.manual_seed takes
        raise ValueError(f"seed must fit in 64 bits, got {seed}")


@torch.no_grad()
def heldout_elbo(model: VAE, x: Tensor, batch_size: int = 1000, seed: int = 0, *,
                 likelihood: str = "bernoulli", variance: float = 1.0) -> ElboTerms:
    """Mean ELBO terms over ``x`` (N, D), one reparameterised sample per image.

    Returns :class:`~vae_lib.objectives.ElboTerms` of floats in nats per image:
    ``loss = reconstruction + kl`` is the negative ELBO, ``.elbo`` the ELBO.
    ``likelihood`` and ``variance`` name the decoder's likelihood (score a model
    under the one it was trained with; see :func:`vae_lib.objectives.log_likelihood`).
    """
    _check_model_and_data(model, x, seed)
    check_positive_int("batch_size", batch_size)
    _check_likelihood(likelihood, variance)
    g = torch.Generator(device=model.device).manual_seed(seed)
    x = x.to(model.device)
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        logits, mu, logvar = model(xb, generator=g)
        t = negative_elbo(xb, logits, mu, logvar, likelihood=likelihood, variance=variance, reduction="sum")
        totals += torch.stack(cast("list[Tensor]", [t.loss, t.reconstruction, t.kl])).double().cpu()  # tensors here
    return ElboTerms(*(totals / x.shape[0]).tolist())


def _check_likelihood(likelihood: str, variance: float) -> None:
    check_choice("likelihood", likelihood, LIKELIHOODS)
    check_positive_number("variance", variance)


@torch.no_grad()
def log_importance_weights(model: VAE, x: Tensor, k: int, generator: torch.Generator | None = None, *,
                           likelihood: str = "bernoulli", variance: float = 1.0) -> Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x); x: (B, D) -> (k, B)."""
    _check_model_and_data(model, x)
    check_positive_int("k", k)
    _check_likelihood(likelihood, variance)
    check_generator("generator", generator, model.device)
    mu, logvar = model.encode(x)
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), generator)  # k samples per image
    logits = model.decode(z.reshape(-1, mu.shape[-1])).reshape(k, *x.shape)
    log_px_z = log_likelihood(x.expand(k, *x.shape).reshape(-1, x.shape[-1]), logits.reshape(-1, x.shape[-1]),
                              likelihood, variance).reshape(k, -1)
    log_pz = normal_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    log_qz = normal_log_prob(z, mu, logvar).sum(-1)
    return log_px_z + log_pz - log_qz


@torch.no_grad()
def importance_sampled_log_likelihood(
    model: VAE, x: Tensor, k: int, batch_size: int | None = None, seed: int = 0, *,
    likelihood: str = "bernoulli", variance: float = 1.0,
) -> Tensor:
    """Per-image estimates of log p(x) = log (1/k) sum_i w_i (Burda et al.), shape (N,).

    k = 1 is the one-sample ELBO estimate; the expected estimate does not decrease
    as k grows and tends to log p(x). ``batch_size`` images are processed at a
    time (default: about 50,000 decoded samples per batch).
    """
    _check_model_and_data(model, x, seed)
    check_positive_int("k", k)
    _check_likelihood(likelihood, variance)
    # None picks the default; 0 is an error, not "the default" (``batch_size or ...`` would say so)
    batch_size = max(1, 50_000 // k) if batch_size is None else check_positive_int("batch_size", batch_size)
    g = torch.Generator(device=model.device).manual_seed(seed)
    x = x.to(model.device)
    out = []
    for start in range(0, x.shape[0], batch_size):
        logw = log_importance_weights(model, x[start : start + batch_size], k, g, likelihood=likelihood,
                                      variance=variance)
        out.append(log_mean_exp(logw))  # eq. iwae-bound
    return torch.cat(out)


def log_mean_exp(logw: Tensor) -> Tensor:
    """``log (1/k) sum_i exp(logw_i)`` over the first dimension, stably: (k, ...) -> (...). The one copy of it."""
    check_tensor("logw", logw)
    if logw.dim() < 1 or logw.numel() == 0:
        raise ValueError(f"logw must have shape (k, ...) with k >= 1 samples, got {tuple(logw.shape)}")
    return torch.logsumexp(logw, dim=0) - math.log(logw.shape[0])
