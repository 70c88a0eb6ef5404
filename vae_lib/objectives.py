"""Reconstruction log-likelihoods and the VAE losses (the KL divergences are in :mod:`vae_lib.divergences`).

Conventions (fixed for the whole book):

* The encoder returns ``(mu, logvar)`` with ``logvar = log sigma^2`` (see
  :mod:`vae_lib.params` for named conversions to other forms).
* Per-example quantities sum over pixels and latent units; the batch is then
  reduced by ``reduction``: ``"none"`` gives shape ``(B,)``, ``"mean"`` averages
  over the batch (nats per example), ``"sum"`` sums over it.
* Comments carry the label of the book equation each line implements; the site
  anchor is ``#equation-<label>``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import (
    check_choice,
    check_finite_number,
    check_instance,
    check_nonnegative_number,
    check_positive_int,
    check_positive_number,
    check_reduction,
    check_same,
    check_tensor,
    check_unit_interval,
    reduce_batch,
)
from .divergences import _check_gaussian, _kl_to_standard_normal, kl_diag_gaussian_to_standard_normal

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")


# --- The Gaussian density ----------------------------------------------------------------


def _as_tensor(name: str, value: float | Tensor) -> Tensor:
    """A float64 tensor from a number, or a floating tensor checked as such."""
    if isinstance(value, Tensor):
        return check_tensor(name, value)
    check_instance(name, value, (int, float), "a finite number or a floating-point tensor")
    return torch.tensor(check_finite_number(name, value), dtype=torch.float64)


def normal_log_prob(x: Tensor, mu: float | Tensor, logvar: float | Tensor) -> Tensor:
    """Elementwise ``log N(x; mu, exp(logvar))``; the three arguments broadcast.

    Summing the result over a last dimension of size J gives the log density of
    a diagonal Gaussian in J dimensions.
    """
    check_tensor("x", x)
    mu, logvar = _as_tensor("mu", mu), _as_tensor("logvar", logvar)
    try:
        torch.broadcast_shapes(x.shape, mu.shape, logvar.shape)
    except RuntimeError:
        raise ValueError(f"x, mu and logvar must broadcast together, got shapes {tuple(x.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}") from None
    # eq. log-q-diagonal, one unit: -1/2 [log 2 pi + log sigma^2 + (x - mu)^2 / sigma^2]
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar))


# --- Reconstruction log-likelihoods ---------------------------------------------------


def _check_pixels(x: Tensor) -> None:
    if x.dim() < 1:
        raise ValueError("x must have shape (B, D) (or (D,)) with a pixel dimension D, got a 0-d tensor")


def bernoulli_log_likelihood(x: Tensor, logits: Tensor, reduction: str = "mean") -> Tensor:
    """``log p(x|z)`` for a Bernoulli decoder with the given logits, summed over pixels.

    x, logits: (B, D) with x in [0, 1]. For grey levels this is the usual
    cross-entropy objective (as in pytorch/examples), not a normalised density.
    """
    _check_bernoulli_args(x, logits, reduction)
    return reduce_batch(_bernoulli_log_likelihood(x, logits), reduction)


def _check_bernoulli_args(x: Tensor, logits: Tensor, reduction: str) -> None:
    """The checks the two Bernoulli log-likelihoods share: x (B, D) of pixels in [0, 1], logits alike."""
    check_tensor("x", x)
    check_tensor("logits", logits)
    check_same(("x", "logits"), x, logits)
    _check_pixels(x)
    check_unit_interval("x", x)
    check_reduction(reduction)


def _bernoulli_log_likelihood(x: Tensor, logits: Tensor) -> Tensor:
    """The arithmetic of :func:`bernoulli_log_likelihood`, unchecked: (B, D) -> (B,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def continuous_bernoulli_log_likelihood(x: Tensor, logits: Tensor, reduction: str = "mean") -> Tensor:
    """``log p(x|z)`` of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), summed over pixels.

    The Bernoulli cross-entropy plus its normaliser ``log C``: a true density on
    ``[0, 1]^D``, so on grey levels its ELBO bounds a real log-likelihood.
    x, logits: (B, D), x in [0, 1].
    """
    _check_bernoulli_args(x, logits, reduction)
    return reduce_batch(_continuous_bernoulli_log_likelihood(x, logits), reduction)


# log(eta / tanh(eta / 2)) = log 2 + eta^2/12 - 7 eta^4/1440 + 31 eta^6/90720 - 127 eta^8/4838400 + O(eta^10)
_CB_SERIES = (1 / 12, -7 / 1440, 31 / 90720, -127 / 4838400)
# Below the switch the series, above it the closed form. float32: the series' next term < 3e-9, the closed
# form's gradient loses < 1e-5 above 0.5. float64: the series is exact to 1e-26 below 0.01 and the gradient
# loses < 1e-11 above it.
_CB_SWITCH = {torch.float64: 1e-2}
_CB_SWITCH_DEFAULT = 0.5


def _continuous_bernoulli_log_norm(logits: Tensor) -> Tensor:
    """Elementwise log C for logits eta: ``log(eta / tanh(eta / 2))``, ``log 2`` at eta = 0."""
    # eq. continuous-bernoulli-normaliser: C = 2 atanh(1 - 2 lam) / (1 - 2 lam) with lam = sigmoid(eta)
    # Near 0 the closed form's value is fine but autograd through it cancels (27 % off at 1e-3 in
    # float32), so a series takes over there.
    small = logits.abs() < _CB_SWITCH.get(logits.dtype, _CB_SWITCH_DEFAULT)
    safe = torch.where(small, torch.ones_like(logits), logits)  # no 0/0, even in an unused branch
    exact = torch.log(safe / torch.tanh(safe / 2))
    u = logits.pow(2)
    series = u * (_CB_SERIES[0] + u * (_CB_SERIES[1] + u * (_CB_SERIES[2] + u * _CB_SERIES[3])))
    return torch.where(small, math.log(2) + series, exact)


def _continuous_bernoulli_log_likelihood(x: Tensor, logits: Tensor) -> Tensor:
    return _bernoulli_log_likelihood(x, logits) + _continuous_bernoulli_log_norm(logits).sum(-1)


def log_likelihood(x: Tensor, decoder_logits: Tensor, likelihood: str = "bernoulli", variance: float = 1.0) -> Tensor:
    """Per-example ``log p(x|z)`` (B,) of a named decoder likelihood; the one switch used by losses and evaluation.

    ``"bernoulli"``: logits as Bernoulli logits (the training cross-entropy; not a
    density on grey levels); ``"continuous_bernoulli"``: the same output, normalised
    on [0, 1]; ``"gaussian"``: ``N(x; sigmoid(logits), variance I)``.
    """
    check_choice("likelihood", likelihood, LIKELIHOODS)
    check_tensor("x", x)  # named here: the helpers below would say "logits" or "mean"
    check_tensor("decoder_logits", decoder_logits)
    check_same(("x", "decoder_logits"), x, decoder_logits)
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, decoder_logits, reduction="none")
    if likelihood == "continuous_bernoulli":
        return continuous_bernoulli_log_likelihood(x, decoder_logits, reduction="none")
    return gaussian_log_likelihood(x, torch.sigmoid(decoder_logits), variance, reduction="none")


def gaussian_log_likelihood(x: Tensor, mean: Tensor, variance: float, reduction: str = "mean") -> Tensor:
    """``log N(x; mean, variance * I)``, summed over the D pixels.

    x, mean: (B, D); ``variance`` is the decoder's fixed variance s^2 > 0.
    """
    check_tensor("x", x)
    check_tensor("mean", mean)
    check_same(("x", "mean"), x, mean)
    _check_pixels(x)
    variance = check_positive_number("variance", variance)
    check_reduction(reduction)
    return reduce_batch(_gaussian_log_likelihood(x, mean, variance), reduction)


def _gaussian_log_likelihood(x: Tensor, mean: Tensor, variance: float) -> Tensor:
    """The arithmetic of :func:`gaussian_log_likelihood`, unchecked: (B, D) -> (B,)."""
    d = x.shape[-1]
    # eq. gaussian-decoder: -D/2 log(2 pi s^2) - ||x - f(z)||^2 / (2 s^2)
    return -0.5 * d * (LOG_2PI + math.log(variance)) - (x - mean).pow(2).sum(-1) / (2 * variance)


# --- The losses -----------------------------------------------------------------------


class ElboTerms(NamedTuple):
    """The loss and its parts, each reduced the same way, in nats: the book's one ELBO-terms type.

    Every field is a quantity to *minimise* (training, :func:`vae_lib.evaluate`,
    :func:`vae_lib.evaluation.heldout_elbo` and the chapters all use this sign);
    :attr:`elbo` is the one number to maximise. Fields are tensors inside a
    training step and floats once averaged over a data set.
    """

    loss: Tensor | float  # reconstruction + beta * kl
    reconstruction: Tensor | float  # -E_q[log p(x|z)], one-sample estimate
    kl: Tensor | float  # KL(q(z|x) || p(z)), closed form; 0 for an auto-encoder

    @property
    def elbo(self) -> Tensor | float:
        """``-(reconstruction + kl)``, whatever beta the loss used: the ELBO (eq. elbo-definition) when
        ``reconstruction`` is a negative log-likelihood.

        It is only as much an ELBO as the terms are: on source Eq. (8)'s terms it is ``-(MSE + KL)``, the
        Gaussian ELBO at s^2 = D/2 plus the constant (D/2) log(pi D); on an auto-encoder's terms it is minus
        the reconstruction loss.
        """
        return -(self.reconstruction + self.kl)




def negative_elbo(
    x: Tensor,
    decoder_logits: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    likelihood: str = "bernoulli",
    variance: float = 1.0,
    beta: float = 1.0,
    reduction: str = "mean",
) -> ElboTerms:
    """The negative ELBO ``-E_q[log p(x|z)] + beta KL(q(z|x) || p(z))``.

    x, decoder_logits: (B, D); mu, logvar: (B, J). ``likelihood`` is one of
    :data:`LIKELIHOODS` (see :func:`log_likelihood`). ``beta = 1`` is the exact negative ELBO.
    """
    check_choice("likelihood", likelihood, LIKELIHOODS)
    # name the caller's arguments (the helpers below would say "logits"/"mean"); the finite
    # checks on x, mu and logvar happen once, inside those helpers
    check_tensor("x", x, finite=False)
    check_tensor("decoder_logits", decoder_logits)
    check_same(("x", "decoder_logits"), x, decoder_logits)
    check_tensor("mu", mu, finite=False)
    check_tensor("logvar", logvar, finite=False)
    check_nonnegative_number("beta", beta)
    check_positive_number("variance", variance)  # even when unused (bernoulli): never accept a bad one
    check_reduction(reduction)
    if mu.dim() != 2 or x.dim() != 2 or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"x must be (B, D) and mu (B, J) with the same B, got {tuple(x.shape)} and {tuple(mu.shape)}"
        )
    rec = -log_likelihood(x, decoder_logits, likelihood, variance)
    kl = kl_diag_gaussian_to_standard_normal(mu, logvar, reduction="none")
    # eq. negative-elbo
    loss = rec + beta * kl
    return ElboTerms(*(reduce_batch(t, reduction) for t in (loss, rec, kl)))


def source_eq8_loss(x: Tensor, y: Tensor, mu: Tensor, logvar: Tensor, reduction: str = "mean",
                    beta: float = 1.0) -> ElboTerms:
    """The source's Eq. (8), literally: per-pixel *mean* squared error plus the *summed* KL.

    ``L = (1/D) sum_d (x_d - y_d)^2 + 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)``
    with x, y: (B, D) and mu, logvar: (B, J). It equals the negative ELBO of a
    Gaussian decoder with variance ``D/2`` up to a constant (see the final-loss chapter).
    ``beta`` multiplies the KL term (1: the source; ``2 s0^2 / D``: the negative
    ELBO of a Gaussian decoder with variance ``s0^2``, scaled by ``2 s0^2 / D``).
    """
    check_tensor("x", x)
    check_tensor("y", y)
    check_same(("x", "y"), x, y)
    _check_gaussian("mu", mu, "logvar", logvar)
    check_reduction(reduction)
    if mu.dim() != 2 or x.dim() != 2 or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"x must be (B, n) and mu (B, J) with the same B, got {tuple(x.shape)} and {tuple(mu.shape)}"
        )
    check_nonnegative_number("beta", beta)
    # eq. source-eq8: mean over pixels, then the closed-form KL summed over latent units
    rec = (x - y).pow(2).mean(-1)
    kl = _kl_to_standard_normal(mu, logvar)
    return ElboTerms(*(reduce_batch(t, reduction) for t in (rec + beta * kl, rec, kl)))


def source_eq8_equivalent_variance(D: int) -> float:
    """Decoder variance s^2 for which Eq. (8) is the exact negative ELBO (up to a constant): ``D/2``."""
    return check_positive_int("D", D) / 2


__all__ = [
    "ElboTerms",
    "LIKELIHOODS",
    "bernoulli_log_likelihood",
    "continuous_bernoulli_log_likelihood",
    "log_likelihood",
    "gaussian_log_likelihood",
    "normal_log_prob",
    "negative_elbo",
    "source_eq8_equivalent_variance",
    "source_eq8_loss",
]
