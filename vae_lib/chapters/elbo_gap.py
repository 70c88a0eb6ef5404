"""The gap between the ELBO and log p(x): full-covariance Gaussians, per-example q, L_k, q(z).

* A Gaussian ``q = N(mean, L L^T)`` given by its mean (..., J) and a lower-triangular Cholesky
  factor ``scale_tril`` (..., J, J) with a positive diagonal; a diagonal q is the special case
  ``scale_tril = diag(sigma)`` (:func:`diagonal_scale_tril`), so one code path serves both.
* :func:`fit_posterior` optimises such a q for each image separately (batched over images),
  with the decoder fixed, starting from the encoder's output: the ELBO of the best q in a
  family, which splits the gap into an amortisation and an approximation part.
* :func:`log_weights` and :func:`iwae_estimate` give importance-sampled estimates of log p(x)
  with a delta-method standard error; :func:`iwae_objective` trains on the bound L_k.
* :func:`aggregate_log_density` is the aggregate posterior q(z), a mixture of the encoder's
  Gaussians over the training images.

Introduced in chapter 7.
"""
from __future__ import annotations

import importlib.resources
from typing import NamedTuple, cast

import torch
from torch import Tensor, nn

from .._checks import (
    check_choice,
    check_generator,
    check_instance,
    check_int,
    check_positive_int,
    check_positive_number,
    check_tensor,
)
from ..checkpoints import load_checkpoint
from ..divergences import MCEstimate, kl_diag_gaussian_to_standard_normal
from ..evaluation import log_mean_exp
from ..models import VAE, ModelConfig
from ..objectives import LOG_2PI, ElboTerms, log_likelihood
from ..training import History, Objective
from .full_gaussian import _check_pair, _kl, _log_density, _sample, diagonal_scale_tril, scale_tril_from_unconstrained

FAMILIES = ("diagonal", "full")
CHECKPOINT = "elbo_gap_vae.pt"  # in vae_lib/_data, written by scripts/elbo_gap.py


def iwae_checkpoint(k: int) -> str:
    """The file name, in vae_lib/_data, of the reference network trained on -L_k by scripts/elbo_gap.py."""
    return f"elbo_gap_iwae{check_positive_int('k', k)}.pt"


def load_reference_vae(device: torch.device | str = "cpu", *, iwae_k: int | None = None) -> tuple[VAE, History]:
    """A committed model of chapter 7 and its history: ModelConfig(), trained with training.REFERENCE, seed 0.

    ``iwae_k=None``: the reference VAE, trained on the negative ELBO; ``iwae_k=k``: the same network
    trained on ``-L_k`` (:func:`iwae_objective`). The checkpoint's SHA-256 is verified by
    :func:`vae_lib.checkpoints.load_checkpoint`.
    """
    check_instance("device", device, (str, torch.device), "a str or torch.device")
    name = CHECKPOINT if iwae_k is None else iwae_checkpoint(iwae_k)
    model = VAE(ModelConfig()).to(device)
    with importlib.resources.as_file(importlib.resources.files("vae_lib") / "_data" / name) as path:
        history = load_checkpoint(path, model)
    return model.eval(), history


# --- The bounds of one decoder, for any Gaussian q ----------------------------------------


def _check_model_x(model: object, x: object, mean: Tensor) -> Tensor:
    check_instance("model", model, VAE, "a vae_lib.VAE")
    x = check_tensor("x", x)
    if x.dim() != 2 or mean.dim() != 2 or x.shape[0] != mean.shape[0]:
        raise ValueError(f"x must be (B, D) and mean (B, J) with the same B, got {tuple(x.shape)} and "
                         f"{tuple(mean.shape)}")
    return x


def _log_joint_terms(model: VAE, x: Tensor, z: Tensor, likelihood: str) -> Tensor:
    """log p(x|z) + log p(z) for z (k, B, J) -> (k, B)."""
    k, b, j = z.shape
    logits = model.decode(z.reshape(-1, j))
    log_px_z = log_likelihood(x.expand(k, *x.shape).reshape(-1, x.shape[-1]), logits, likelihood).reshape(k, b)
    return log_px_z - 0.5 * (j * LOG_2PI + z.pow(2).sum(-1))


def log_weights(model: VAE, x: Tensor, mean: Tensor, scale_tril: Tensor, k: int,
                generator: torch.Generator | None = None, *, likelihood: str = "bernoulli") -> Tensor:
    """``log w_i = log p(x, z_i) - log q(z_i)``, z_i ~ q = N(mean, L L^T); x (B, D), mean (B, J) -> (k, B)."""
    mean, scale_tril = _check_pair(mean, scale_tril)
    x = _check_model_x(model, x, mean)
    check_positive_int("k", k)
    check_generator("generator", generator, mean.device)
    check_choice("likelihood", likelihood, ("bernoulli", "continuous_bernoulli"))
    z = _sample(mean, scale_tril, k, generator)
    return _log_joint_terms(model, x, z, likelihood) - _log_density(z, mean, scale_tril)


def iwae_estimate(logw: Tensor) -> MCEstimate:
    """The importance-sampled estimate ``log (1/k) sum_i w_i`` over the first dimension (k, ...) -> (...).

    ``stderr`` is the delta-method standard error ``std(w) / (sqrt(k) mean(w))``; ``variance`` is
    ``k stderr^2``, the variance of one sample on the same scale (as in :class:`MCEstimate`).
    """
    check_tensor("logw", logw)
    if logw.dim() < 1 or logw.shape[0] < 2:
        raise ValueError(f"logw must have shape (k, ...) with k >= 2 samples, got {tuple(logw.shape)}")
    k = logw.shape[0]
    estimate = log_mean_exp(logw)  # eq. iwae-bound
    ratio = torch.exp(logw - estimate)  # w_i / mean(w): mean 1
    variance = ratio.var(0, unbiased=True)
    return MCEstimate(estimate, variance, (variance / k).sqrt())


def elbo_estimate(model: VAE, x: Tensor, mean: Tensor, scale_tril: Tensor, samples: int,
                  generator: torch.Generator | None = None, *, likelihood: str = "bernoulli") -> MCEstimate:
    """The ELBO per image: a Monte Carlo ``E_q[log p(x|z)]`` over ``samples`` draws minus the closed-form KL.

    Returns an :class:`MCEstimate` of shape (B,) (the KL is exact, so only the first term varies).
    """
    mean, scale_tril = _check_pair(mean, scale_tril)
    x = _check_model_x(model, x, mean)
    check_int("samples", samples, low=2)  # a standard error needs two draws
    check_generator("generator", generator, mean.device)
    check_choice("likelihood", likelihood, ("bernoulli", "continuous_bernoulli"))
    z = _sample(mean, scale_tril, samples, generator)
    k, b, j = z.shape
    rec = log_likelihood(x.expand(k, *x.shape).reshape(-1, x.shape[-1]), model.decode(z.reshape(-1, j)),
                         likelihood).reshape(k, b)
    est = MCEstimate(rec.mean(0), rec.var(0, unbiased=True), (rec.var(0, unbiased=True) / k).sqrt())
    # eq. elbo-definition
    return est._replace(mean=est.mean - _kl(mean, scale_tril))


class FittedPosterior(NamedTuple):
    """Per-image Gaussians q_n = N(mean_n, L_n L_n^T) fitted to the decoder, and the ELBO per step."""

    mean: Tensor  # (B, J)
    scale_tril: Tensor  # (B, J, J)
    trace: Tensor  # (steps,): the ``samples``-sample ELBO at each step, averaged over images


def fit_posterior(model: VAE, x: Tensor, mu: Tensor, logvar: Tensor, *, family: str = "diagonal",
                  steps: int = 300, lr: float = 1e-2, samples: int = 1, seed: int = 0,
                  likelihood: str = "bernoulli") -> FittedPosterior:
    """Maximise each image's ELBO over its own Gaussian q, the decoder fixed, from the encoder's (mu, logvar).

    x: (B, D); mu, logvar: (B, J). ``family`` is ``"diagonal"`` (mu, logvar free) or ``"full"`` (a full
    Cholesky factor). Adam (its step size ``lr`` decaying linearly to zero) on the reparameterised ``samples``-sample ELBO, summed over images, so each
    image's parameters follow their own ELBO (Adam is per-coordinate). The decoder's weights get no
    gradient and are not changed.
    """
    check_instance("model", model, VAE, "a vae_lib.VAE")
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(f"mu and logvar must both be (B, J), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    x = _check_model_x(model, x, mu)
    check_choice("family", family, FAMILIES)
    check_positive_int("steps", steps)
    check_positive_number("lr", lr)
    check_positive_int("samples", samples)
    check_int("seed", seed)
    check_choice("likelihood", likelihood, ("bernoulli", "continuous_bernoulli"))
    g = torch.Generator(device=mu.device).manual_seed(seed)
    mean = mu.detach().clone().requires_grad_(True)
    if family == "diagonal":
        raw = (0.5 * logvar.detach()).clone().requires_grad_(True)  # log sigma
        tril = lambda: torch.diag_embed(raw.exp())  # noqa: E731
    else:
        raw = torch.diag_embed(0.5 * logvar.detach()).clone().requires_grad_(True)  # diagonal: log sigma
        tril = lambda: scale_tril_from_unconstrained(raw)  # noqa: E731
    opt = torch.optim.Adam([mean, raw], lr=lr)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)  # linear decay to zero
    params = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    trace = torch.empty(steps, dtype=torch.float64)
    try:
        for step in range(steps):
            L = tril()
            z = _sample(mean, L, samples, g)
            k, b, j = z.shape
            rec = log_likelihood(x.expand(k, *x.shape).reshape(-1, x.shape[-1]), model.decode(z.reshape(-1, j)),
                                 likelihood).reshape(k, b).mean(0)
            elbo = rec - _kl(mean, L)  # eq. elbo-definition, per image
            opt.zero_grad(set_to_none=True)
            (-elbo.sum()).backward()
            opt.step()
            decay.step()
            trace[step] = elbo.detach().mean().double().cpu()
    finally:
        for p, flag in zip(model.parameters(), params):
            p.requires_grad_(flag)
    with torch.no_grad():
        return FittedPosterior(mean.detach(), tril().detach(), trace)


class GapSplit(NamedTuple):
    """Per-image estimates (B,) behind the split of the gap into approximation and amortisation."""

    log_px: Tensor  # L_k with the fitted full-covariance q as proposal
    elbo_fitted: Tensor  # the ELBO of the fitted diagonal q, the per-image optimum as far as the fit went
    elbo_encoder: Tensor  # the ELBO of the encoder's q

    @property
    def approximation(self) -> Tensor:
        return self.log_px - self.elbo_fitted  # eq. approximation-gap

    @property
    def amortisation(self) -> Tensor:
        return self.elbo_fitted - self.elbo_encoder  # eq. amortisation-gap


def gap_split(model: VAE, x: Tensor, *, steps: int, lr: float, samples: int, k: int, elbo_samples: int,
              seed: int = 0) -> GapSplit:
    """Chapter 7's measurement for one model and one set of images x (B, D), image by image.

    The encoder's q and the diagonal q fitted by :func:`fit_posterior` (``steps``, ``lr``, ``samples``)
    are scored by :func:`elbo_estimate` with ``elbo_samples`` draws; log p(x) is L_k over ``k`` draws
    from the fitted full-covariance q. Seeds: ``seed + 1`` for the ELBOs, ``seed + 2`` for L_k,
    ``seed + 3`` for the fits, as chapter 7 draws them.
    """
    check_positive_int("k", k)
    check_int("seed", seed)
    gen = lambda shift: torch.Generator(device=x.device).manual_seed(seed + shift)  # noqa: E731
    with torch.no_grad():
        mu, logvar = model.encode(x)
    fits = {family: fit_posterior(model, x, mu, logvar, family=family, steps=steps, lr=lr, samples=samples,
                                  seed=seed + 3) for family in FAMILIES}
    with torch.no_grad():
        encoder = elbo_estimate(model, x, mu, diagonal_scale_tril(logvar), elbo_samples, gen(1)).mean
        fitted = elbo_estimate(model, x, fits["diagonal"].mean, fits["diagonal"].scale_tril, elbo_samples, gen(1)).mean
        g, chunk = gen(2), min(k, 500)  # chunks of 500 draws bound the memory, as in chapter 7
        logw = torch.cat([log_weights(model, x, fits["full"].mean, fits["full"].scale_tril, min(chunk, k - start), g)
                          for start in range(0, k, chunk)])
    return GapSplit(iwae_estimate(logw).mean, fitted, encoder)


# --- Training on L_k -----------------------------------------------------------------------


def iwae_objective(k: int) -> Objective:
    """The negative importance-weighted bound ``-L_k`` (Burda et al.) as a training objective.

    Returns :class:`ElboTerms` of batch means with ``loss = -L_k``, ``kl`` the encoder's closed-form
    ``KL(q || p(z))`` and ``reconstruction = -L_k - kl``, so that ``.elbo`` is ``L_k``; at ``k = 1`` the
    terms are the one-sample negative ELBO's.
    """
    check_positive_int("k", k)

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        model = cast(VAE, model)  # the objective of a VAE (an Objective's terms take any module)
        mu, logvar = model.encode(x)
        L = diagonal_scale_tril(logvar)
        z = _sample(mu, L, k, None)
        logw = _log_joint_terms(model, x, z, "bernoulli") - _log_density(z, mu, L)
        bound = log_mean_exp(logw).mean()  # eq. iwae-bound
        kl = kl_diag_gaussian_to_standard_normal(mu, logvar, reduction="mean")
        return ElboTerms(-bound, -bound - kl, kl)

    return Objective(f"negative importance-weighted bound, k={k}", terms, unit_interval=True)


# --- The aggregate posterior ----------------------------------------------------------------


def aggregate_log_density(z: Tensor, mu: Tensor, logvar: Tensor, batch_size: int = 256) -> Tensor:
    """``log q(z) = log (1/N) sum_n N(z; mu_n, diag exp(logvar_n))``: z (M, J); mu, logvar (N, J) -> (M,)."""
    for name, t in (("z", z), ("mu", mu), ("logvar", logvar)):
        check_tensor(name, t)
        if t.dim() != 2:
            raise ValueError(f"{name} must have shape (rows, J), got {tuple(t.shape)}")
    if mu.shape != logvar.shape or z.shape[1] != mu.shape[1]:
        raise ValueError(f"z (M, J), mu and logvar (N, J) must share J, got {tuple(z.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(logvar.shape)}")
    check_positive_int("batch_size", batch_size)
    inv_var, j = torch.exp(-logvar), mu.shape[1]
    const = -0.5 * (j * LOG_2PI + logvar.sum(-1))  # (N,)
    out = []
    for start in range(0, z.shape[0], batch_size):
        zb = z[start:start + batch_size]
        sq = ((zb[:, None, :] - mu[None]) ** 2 * inv_var[None]).sum(-1)  # (M, N)
        # eq. aggregate-posterior
        out.append(log_mean_exp((const[None] - 0.5 * sq).T))  # over the N codes
    return torch.cat(out)


__all__ = [
    "CHECKPOINT",
    "FAMILIES",
    "FittedPosterior",
    "GapSplit",
    "aggregate_log_density",
    "elbo_estimate",
    "fit_posterior",
    "gap_split",
    "iwae_checkpoint",
    "iwae_objective",
    "load_reference_vae",
    "iwae_estimate",
    "log_weights",
]
