"""Gradients of an expectation under q = N(mu, diag sigma^2): two unbiased estimators (chapter 4).

We want ``grad_{mu, logvar} E_q[f(z)]``. Both estimators below return S *single-sample*
estimates (one per draw), so that their mean, variance and standard error can be
studied; averaging them gives the usual S-sample estimator.

* :func:`reparameterised_gradients`: write ``z = mu + sigma * eps`` (the reparameterisation
  of chapter 2) and differentiate ``f(mu + sigma * eps)`` through the sample; needs a
  differentiable f.
* :func:`score_function_gradients` (REINFORCE, the log-derivative trick): weight the score
  ``grad log q(z)`` by ``f(z) - baseline``; needs only values of f. :func:`optimal_baseline`
  estimates the constant, one per coordinate, that minimises its variance.

:func:`elbo_estimates` gives single-sample ELBO values and their reparameterised gradients,
with the KL to N(0, I) in closed form or sampled, to compare the two estimators' variance.

Introduced in chapter 4 (the Bayes-rule rewrite).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from .._checks import (
    check_callable,
    check_choice,
    check_finite_number,
    check_instance,
    check_positive_int,
    check_positive_number,
    check_same,
    check_tensor,
)
from ..divergences import kl_diag_gaussian_to_standard_normal
from ..models import reparameterize

Integrand = Callable[[Tensor], Tensor]  # f: z (S, J) -> values (S,)
ESTIMATORS = ("reparameterised", "score-function")
KL_TERMS = ("analytic", "sampled")


class GradientSamples(NamedTuple):
    """S single-sample estimates of the gradient with respect to each parameter."""

    mu: Tensor  # (S, J): estimates of d/dmu E_q[f]
    logvar: Tensor  # (S, J): estimates of d/dlogvar E_q[f]


def _check_q(mu: Tensor, logvar: Tensor, n_samples: int) -> None:
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    check_same(("mu", "logvar"), mu, logvar)
    if mu.dim() != 1:
        raise ValueError(f"mu and logvar must have shape (J,) (one distribution q), got {tuple(mu.shape)}")
    check_positive_int("n_samples", n_samples)


def _values(f: Integrand, z: Tensor) -> Tensor:
    check_callable("f", f, "a callable z (S, J) -> (S,)")
    values = f(z)
    check_tensor("f(z)", values)
    if values.shape != z.shape[:1]:
        raise ValueError(f"f must map z of shape {tuple(z.shape)} to shape ({z.shape[0]},), got {tuple(values.shape)}")
    return values


def diag_gaussian_score(z: Tensor, mu: Tensor, logvar: Tensor) -> GradientSamples:
    """The score ``grad_{mu, logvar} log N(z; mu, diag exp(logvar))`` at each z: z (S, J) -> (S, J) each."""
    check_tensor("z", z)
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    check_same(("mu", "logvar"), mu, logvar)
    if z.dim() != 2 or z.shape[1:] != mu.shape:
        raise ValueError(f"z must have shape (S, {mu.shape[-1]}), got {tuple(z.shape)}")
    var = logvar.exp()
    d_mu = (z - mu) / var  # eq. diag-gaussian-score
    d_logvar = 0.5 * ((z - mu).pow(2) / var - 1.0)  # eq. diag-gaussian-score
    return GradientSamples(d_mu, d_logvar)


def reparameterised_gradients(f: Integrand, mu: Tensor, logvar: Tensor, n_samples: int,
                              generator: torch.Generator | None = None) -> GradientSamples:
    """S single-sample reparameterised estimates of ``grad_{mu, logvar} E_q[f(z)]``; mu, logvar: (J,)."""
    _check_q(mu, logvar, n_samples)
    # One copy of the parameters per sample: sample s depends on row s only, so the
    # gradient of the sum over s holds the S single-sample gradients row by row.
    mu_s = mu.detach().expand(n_samples, -1).clone().requires_grad_(True)
    logvar_s = logvar.detach().expand(n_samples, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        z = reparameterize(mu_s, logvar_s, generator)  # eq. reparameterisation
        values = _values(f, z)
        # eq. reparameterisation-gradient: autograd applies the chain rule through z = mu + sigma * eps
        d_mu, d_logvar = torch.autograd.grad(values.sum(), (mu_s, logvar_s))
    return GradientSamples(d_mu, d_logvar)


def score_function_gradients(f: Integrand, mu: Tensor, logvar: Tensor, n_samples: int,
                             generator: torch.Generator | None = None,
                             baseline: float | GradientSamples = 0.0) -> GradientSamples:
    """S single-sample score-function estimates of ``grad_{mu, logvar} E_q[f(z)]``; mu, logvar: (J,).

    ``baseline`` is subtracted from f: one number, or one per coordinate (a
    :class:`GradientSamples` of two (J,) tensors, as :func:`optimal_baseline` returns). Any
    constant keeps the estimator unbiased because the score has mean zero.
    """
    _check_q(mu, logvar, n_samples)
    gamma = _check_baseline(baseline, mu)
    mu, logvar = mu.detach(), logvar.detach()
    with torch.no_grad():  # no path through the sample is needed: only values of f
        z = reparameterize(mu.expand(n_samples, -1), logvar.expand(n_samples, -1), generator)
        values = _values(f, z).unsqueeze(-1)
        score = diag_gaussian_score(z, mu, logvar)
    # eq. score-function-gradient (with a constant baseline: eq. score-function-baseline)
    return GradientSamples((values - gamma.mu) * score.mu, (values - gamma.logvar) * score.logvar)


def _check_baseline(baseline: float | GradientSamples, mu: Tensor) -> GradientSamples:
    if isinstance(baseline, GradientSamples):
        for name, t in zip(("baseline.mu", "baseline.logvar"), baseline):
            check_tensor(name, t)
            if t.shape != mu.shape:
                raise ValueError(f"{name} must have shape {tuple(mu.shape)} (one value per unit), got {tuple(t.shape)}")
        return GradientSamples(*(t.detach().to(mu) for t in baseline))
    check_instance("baseline", baseline, (int, float), "a finite number or a GradientSamples of (J,) tensors")
    check_finite_number("baseline", baseline)
    return GradientSamples(torch.full_like(mu, baseline), torch.full_like(mu, baseline))


def optimal_baseline(f: Integrand, mu: Tensor, logvar: Tensor, n_samples: int,
                     generator: torch.Generator | None = None) -> GradientSamples:
    """The variance-minimising constant baseline per coordinate, ``E_q[f s_i^2] / E_q[s_i^2]``.

    s_i is coordinate i of the score. Estimated from ``n_samples`` draws of its own: draws
    independent of the ones the baseline is then used with keep that estimator unbiased.
    """
    _check_q(mu, logvar, n_samples)
    mu, logvar = mu.detach(), logvar.detach()
    with torch.no_grad():
        z = reparameterize(mu.expand(n_samples, -1), logvar.expand(n_samples, -1), generator)
        values = _values(f, z).unsqueeze(-1)
        score = diag_gaussian_score(z, mu, logvar)
    # eq. score-function-optimal-baseline, with both expectations replaced by sample means
    return GradientSamples(*((values * s.pow(2)).mean(0) / s.pow(2).mean(0) for s in score))


def elbo_estimates(log_likelihood: Integrand, mu: Tensor, logvar: Tensor, n_samples: int,
                   generator: torch.Generator | None = None, *, kl: str = "analytic") -> tuple[Tensor, GradientSamples]:
    """S single-sample ELBO estimates for q = N(mu, diag exp(logvar)) and p(z) = N(0, I), and their gradients.

    ``kl="analytic"``: ``log p(x|z) - KL(q || p(z))`` with the KL in closed form;
    ``kl="sampled"``: ``log p(x|z) + log p(z) - log q(z)``, all at the one draw z.
    Both are unbiased for the ELBO. Returns the values (S,) and their reparameterised
    gradients with respect to mu and logvar; the same generator state gives both the same draws.
    """
    check_choice("kl", kl, KL_TERMS)
    check_callable("log_likelihood", log_likelihood, "a callable z (S, J) -> (S,)")
    _check_q(mu, logvar, n_samples)
    mu_s = mu.detach().expand(n_samples, -1).clone().requires_grad_(True)  # one copy per draw, as above
    logvar_s = logvar.detach().expand(n_samples, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        z = reparameterize(mu_s, logvar_s, generator)  # eq. reparameterisation
        values = _values(log_likelihood, z)
        if kl == "analytic":  # eq. elbo-estimator-analytic-kl; the KL is eq. kl-closed-form
            values = values - kl_diag_gaussian_to_standard_normal(mu_s, logvar_s, reduction="none")
        else:  # eq. elbo-estimator-sampled-kl: log N(z; 0, I) - log N(z; mu, diag sigma^2), the 2 pi cancels
            values = values - 0.5 * (z.pow(2) - (z - mu_s).pow(2) / logvar_s.exp() - logvar_s).sum(-1)
        d_mu, d_logvar = torch.autograd.grad(values.sum(), (mu_s, logvar_s))
    return values.detach(), GradientSamples(d_mu, d_logvar)


def quadratic_expectation(mu: Tensor, logvar: Tensor, a: Tensor) -> Tensor:
    """``E_q[|z - a|^2] = |mu - a|^2 + sum_j sigma_j^2`` for q = N(mu, diag exp(logvar)); (J,) -> ()."""
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    check_tensor("a", a)
    check_same(("mu", "logvar", "a"), mu, logvar, a)
    # the mean term plus the variances: an exact reference for the estimators (the book derives no label for it)
    return (mu - a).pow(2).sum(-1) + logvar.exp().sum(-1)


def ascend_elbo(log_likelihood: Integrand, mu: Tensor, logvar: Tensor, *, estimator: str, steps: int, lr: float,
                n_samples: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Stochastic gradient ascent on ``ELBO = E_q[log p(x|z)] - KL(q || N(0, I))`` over (mu, logvar).

    The expectation's gradient comes from ``estimator`` ("reparameterised" or
    "score-function", averaged over ``n_samples`` draws per step); the KL's is exact.
    mu, logvar: (J,) starting point. Returns the trajectories (steps + 1, J) of mu and logvar.
    """
    check_choice("estimator", estimator, ESTIMATORS)
    # checked here: the estimators would call it "f"
    check_callable("log_likelihood", log_likelihood, "a callable z (S, J) -> (S,)")
    check_positive_int("steps", steps)
    lr = check_positive_number("lr", lr)
    _check_q(mu, logvar, n_samples)
    estimate = reparameterised_gradients if estimator == "reparameterised" else score_function_gradients
    mu, logvar = mu.detach().clone(), logvar.detach().clone()
    mus, logvars = [mu], [logvar]
    for _ in range(steps):
        g = estimate(log_likelihood, mu, logvar, n_samples, generator)
        # gradient of eq. kl-closed-form, 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)
        kl_mu, kl_logvar = mu, 0.5 * (logvar.exp() - 1.0)
        mu = mu + lr * (g.mu.mean(0) - kl_mu)  # ascent: the ELBO is maximised
        logvar = logvar + lr * (g.logvar.mean(0) - kl_logvar)
        # |logvar| > 60 (sigma^2 outside 1e-26..1e26) or |mu| > 1e8: the iterates have run away
        if not bool(torch.isfinite(mu).all() and mu.abs().max() < 1e8 and logvar.abs().max() < 60):
            raise RuntimeError(f"the ascent diverged at step {len(mus)} ({estimator}); use a smaller lr")
        mus.append(mu)
        logvars.append(logvar)
    return torch.stack(mus), torch.stack(logvars)


__all__ = [
    "ESTIMATORS",
    "GradientSamples",
    "KL_TERMS",
    "ascend_elbo",
    "diag_gaussian_score",
    "elbo_estimates",
    "optimal_baseline",
    "quadratic_expectation",
    "reparameterised_gradients",
    "score_function_gradients",
]
