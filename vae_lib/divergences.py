"""KL divergences: the definitions (source Eqs. 1 and 2, Monte Carlo) and the Gaussian closed forms.

Conventions as in :mod:`vae_lib.objectives`: ``(mu, logvar)`` with ``logvar = log sigma^2``;
per-example values sum over the latent units, then ``reduction`` reduces the batch.
Comments carry the label of the book equation each line implements.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import (
    check_below,
    check_callable,
    check_finite_number,
    check_int,
    check_reduction,
    check_same,
    check_tensor,
    reduce_batch,
)

# --- KL divergence: the definitions -------------------------------------------------


def kl_discrete(p: Tensor, q: Tensor, dim: int = -1) -> Tensor:
    """Source Eq. (1): ``sum_i p_i log(p_i / q_i)`` along ``dim``.

    ``p`` and ``q`` are probability vectors of the same shape (..., K). Terms
    with ``p_i = 0`` contribute 0 (the limit of ``t log t``); ``q_i = 0`` where
    ``p_i > 0`` gives ``inf``, as the definition says.
    """
    check_tensor("p", p)
    check_tensor("q", q)
    check_same(("p", "q"), p, q)
    if p.dim() < 1:
        raise ValueError("p must have shape (..., K): a probability vector, not a 0-d tensor")
    check_int("dim", dim, low=-p.dim(), high=p.dim() - 1)  # a dimension of p
    for name, t in (("p", p), ("q", q)):
        if bool((t < 0).any()):
            raise ValueError(f"{name} must be non-negative: it is a probability vector")
        total = t.sum(dim)
        if not torch.allclose(total, torch.ones_like(total), atol=1e-5):
            raise ValueError(f"{name} must sum to 1 along dim={dim}")
    # eq. kl-discrete, with the convention 0 log(0/q) = 0
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum(dim)


def kl_quadrature(
    log_p: Callable[[Tensor], Tensor],
    log_q: Callable[[Tensor], Tensor],
    lower: float,
    upper: float,
    n_points: int = 20_001,
) -> Tensor:
    """Source Eq. (2) by numerical quadrature: ``int p(x) log(p(x)/q(x)) dx`` in 1-D.

    ``log_p`` and ``log_q`` map a (N,) float64 grid to log densities (N,), or to
    (..., N) for several integrals at once (the two shapes must broadcast). The
    integral is taken over ``[lower, upper]`` with the trapezoidal rule on
    ``n_points`` points; choose the interval so that ``p`` is negligible outside.
    A log density may be ``-inf`` (zero density) but never NaN or ``+inf``.
    """
    for name, f in (("log_p", log_p), ("log_q", log_q)):
        check_callable(name, f, "a callable mapping a (N,) grid to log densities")
    for name, v in (("lower", lower), ("upper", upper)):
        check_finite_number(name, v)
    check_below(("lower", "upper"), lower, upper)
    check_int("n_points", n_points, low=3)  # the trapezoidal rule needs 3 points
    x = torch.linspace(lower, upper, n_points, dtype=torch.float64)
    lp, lq = log_p(x), log_q(x)
    for name, t in (("log_p(x)", lp), ("log_q(x)", lq)):
        check_tensor(name, t, finite=False)
        if t.dim() < 1 or t.shape[-1] != n_points:
            raise ValueError(f"{name} must have the grid's shape ({n_points},) (or (..., {n_points})), "
                             f"got {tuple(t.shape)}")
        # NaN > 0 is False, so a NaN would otherwise be dropped from the integral without a word
        if bool((t.isnan() | (t == math.inf)).any()):
            raise ValueError(f"{name} contains NaN or +inf values; a log density must be finite or -inf")
    try:
        torch.broadcast_shapes(lp.shape, lq.shape)
    except RuntimeError:
        raise ValueError(f"log_p(x) and log_q(x) have shapes {tuple(lp.shape)} and {tuple(lq.shape)}, "
                         "which do not broadcast") from None
    p = lp.exp()
    # eq. kl-continuous; where p underflows to 0 the integrand is 0
    integrand = torch.where(p > 0, p * (lp - lq), torch.zeros_like(p))
    return torch.trapezoid(integrand, x)


class MCEstimate(NamedTuple):
    """A Monte Carlo mean over S samples, the variance of one sample, and the standard error of the mean."""

    mean: Tensor
    variance: Tensor  # unbiased (S - 1 in the denominator)
    stderr: Tensor  # sqrt(variance / S)

    def z_score(self, exact: float | Tensor) -> Tensor:
        """``|mean - exact| / stderr``: below about 3 when the estimate agrees with ``exact``."""
        return (self.mean - exact).abs() / self.stderr


def mc_estimate(values: Tensor) -> MCEstimate:
    """Mean, variance and standard error over the first dimension of ``values`` (S, ...) -> (...)."""
    check_tensor("values", values)
    if values.dim() < 1 or values.shape[0] < 2:
        raise ValueError(f"values must have shape (S, ...) with S >= 2 samples, got {tuple(values.shape)}")
    variance = values.var(0, unbiased=True)
    return MCEstimate(values.mean(0), variance, (variance / values.shape[0]).sqrt())


def kl_monte_carlo(log_q: Tensor, log_p: Tensor) -> Tensor:
    """Monte Carlo KL(q || p) from samples ``z_s ~ q``: mean over S of ``log q(z_s) - log p(z_s)``.

    ``log_q``, ``log_p``: (S, ...) log densities at the same samples; returns (...).
    Unbiased; its standard error shrinks like ``1/sqrt(S)``.
    """
    check_tensor("log_q", log_q)
    check_tensor("log_p", log_p)
    check_same(("log_q", "log_p"), log_q, log_p)
    if log_q.dim() < 1:
        raise ValueError("log_q must have shape (S, ...) with a sample dimension S, got a 0-d tensor")
    return (log_q - log_p).mean(0)


# --- KL divergence: Gaussian closed forms -------------------------------------------


def _check_gaussian(mu_name: str, mu: Tensor, lv_name: str, logvar: Tensor) -> None:
    check_tensor(mu_name, mu)
    check_tensor(lv_name, logvar)
    check_same((mu_name, lv_name), mu, logvar)
    if mu.dim() < 1:
        raise ValueError(f"{mu_name} must have shape (..., J) with a latent dimension J")


def kl_diag_gaussian_to_standard_normal(mu: Tensor, logvar: Tensor, reduction: str = "mean") -> Tensor:
    """Source Eq. (6): ``KL(N(mu, diag sigma^2) || N(0, I))`` summed over the J latent units.

    mu, logvar: (B, J) or (J,). Returns (B,) for ``reduction="none"`` (a scalar for (J,)).
    """
    _check_gaussian("mu", mu, "logvar", logvar)
    check_reduction(reduction)
    kl = _kl_to_standard_normal(mu, logvar)
    return reduce_batch(kl, reduction) if kl.dim() else kl


def kl_units(mu: Tensor, logvar: Tensor) -> Tensor:
    """The per-unit terms ``kappa_j`` of the closed-form KL to N(0, I), unsummed: (..., J) -> (..., J).

    The one copy of the formula: the KL, free bits, the sigma-VAE loss and the diagnostics all use it.
    """
    _check_gaussian("mu", mu, "logvar", logvar)
    return _kl_units(mu, logvar)


def _kl_units(mu: Tensor, logvar: Tensor) -> Tensor:
    # eq. kl-closed-form: kappa_j = 1/2 (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def _kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """The arithmetic of :func:`kl_diag_gaussian_to_standard_normal`, unchecked: (..., J) -> (...)."""
    return _kl_units(mu, logvar).sum(-1)  # eq. kl-closed-form


def kl_diag_gaussians(
    mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor, reduction: str = "mean"
) -> Tensor:
    """``KL(N(mu_q, diag var_q) || N(mu_p, diag var_p))`` summed over the last dimension.

    All four tensors share one shape (B, J) or (J,).
    """
    _check_gaussian("mu_q", mu_q, "logvar_q", logvar_q)
    _check_gaussian("mu_p", mu_p, "logvar_p", logvar_p)
    check_same(("mu_q", "mu_p"), mu_q, mu_p)
    check_reduction(reduction)
    # In half precision exp(-logvar_p) overflows for logvar_p < -11 and 0 * inf gives NaN for finite
    # inputs: compute in float32 and round once at the end (float32/float64 are computed as before).
    dtype = mu_q.dtype
    if dtype in (torch.float16, torch.bfloat16):
        mu_q, logvar_q, mu_p, logvar_p = (t.float() for t in (mu_q, logvar_q, mu_p, logvar_p))
    # eq. kl-two-gaussians: 1/2 sum_j [log(var_p/var_q) + (var_q + (mu_q - mu_p)^2)/var_p - 1]
    kl = 0.5 * (
        logvar_p - logvar_q + (logvar_q - logvar_p).exp() + (mu_q - mu_p).pow(2) * (-logvar_p).exp() - 1.0
    ).sum(-1)
    return (reduce_batch(kl, reduction) if kl.dim() else kl).to(dtype)


def source_penalty(mu: Tensor, s: Tensor) -> Tensor:
    """The source's section-1 penalty ``sum_j (exp(s_j) - (1 + s_j) + mu_j^2)``, summed over J.

    Equal to ``2 KL`` only when ``s`` is a log-variance; with ``s = log std``
    the true KL is :func:`kl_logstd_to_standard_normal`. Shapes (..., J) -> (...).
    """
    _check_gaussian("mu", mu, "s", s)
    # eq. source-penalty
    return (s.exp() - (1.0 + s) + mu.pow(2)).sum(-1)


def kl_logstd_to_standard_normal(mu: Tensor, log_std: Tensor) -> Tensor:
    """True ``KL(N(mu, exp(s)^2) || N(0, 1))`` when ``s`` is a log standard deviation, summed over J."""
    _check_gaussian("mu", mu, "log_std", log_std)
    # eq. kl-logstd: 1/2 sum_j (exp(2 s_j) - 1 - 2 s_j + mu_j^2)
    return 0.5 * (torch.exp(2 * log_std) - 1.0 - 2 * log_std + mu.pow(2)).sum(-1)


__all__ = ["MCEstimate", "kl_diag_gaussian_to_standard_normal", "kl_diag_gaussians", "kl_discrete",
           "kl_logstd_to_standard_normal", "kl_monte_carlo", "kl_quadrature", "kl_units", "mc_estimate",
           "source_penalty"]
