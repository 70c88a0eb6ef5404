"""The Bayes rewrite of ``KL(q || p(z|x))`` (source Eq. (5)), evaluated line by line (chapter 4).

Each line of the chain is an expression for the same number. On the linear-Gaussian
model of :mod:`vae_lib.chapters.linear_gaussian` every line can be evaluated from closed forms,
by quadrature or by Monte Carlo, each integral computed as that line writes it, so that
the whole chain can be checked numerically.

Introduced in chapter 4 (the Bayes-rule rewrite).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_instance, check_positive_number, check_tensor
from ..book.live import LiveExplorer, Slider
from .linear_gaussian import (
    LinearGaussian,
    diag_cov,
    gaussian_kl,
    gaussian_log_density,
    gaussian_negative_entropy,
    standard_normal_cross_term,
)

# Book labels of the lines, in order: source Eq. (3), then source Eq. (5) without its repeated line.
REWRITE_LINES = (
    "kl-posterior",
    "rewrite-substitute-bayes",
    "rewrite-split-quotient",
    "rewrite-pull-evidence",
    "rewrite-normalisation",
    "rewrite-split-joint",
    "rewrite-regroup",
    "rewrite-result",
)


def _check_model(model: object) -> None:
    check_instance("model", model, LinearGaussian, "a vae_lib.chapters.linear_gaussian.LinearGaussian")


def rewrite_chain_closed_form(model: LinearGaussian, x: Tensor, mean: Tensor, cov: Tensor) -> dict[str, Tensor]:
    """Every line of the chain from closed-form ingredients; x (D,), mean (J,), cov (J, J) -> scalars."""
    _check_model(model)
    log_px = model.log_evidence(x)
    neg_entropy = gaussian_negative_entropy(mean, cov)  # int q log q
    prior_term = standard_normal_cross_term(mean, cov)  # int q log p(z)
    ell = model.expected_log_likelihood(x, mean, cov)  # int q log p(x|z)
    kl_prior = neg_entropy - prior_term  # int q log (q / p(z))
    mass = torch.ones_like(log_px)  # int q dz
    # each key is the label of the book equation its value implements (eq. kl-posterior, eq. rewrite-*)
    return {
        "kl-posterior": model.kl_to_posterior(x, mean, cov),
        "rewrite-substitute-bayes": neg_entropy - (ell + prior_term - log_px),
        "rewrite-split-quotient": neg_entropy + log_px * mass - (ell + prior_term),
        "rewrite-pull-evidence": neg_entropy + log_px * mass - (ell + prior_term),
        "rewrite-normalisation": log_px + neg_entropy - (ell + prior_term),
        "rewrite-split-joint": log_px + neg_entropy - ell - prior_term,
        "rewrite-regroup": log_px + kl_prior - ell,
        "rewrite-result": log_px - ell + kl_prior,
    }


def rewrite_chain_contributions(model: LinearGaussian, x: Tensor, mean: Tensor, cov: Tensor,
                                nodes: Tensor, weights: Tensor) -> dict[str, Tensor]:
    """Every line of the chain as per-point contributions (N,) whose sum is the line's value.

    ``(nodes (N, J), weights (N,))`` is a rule for integrals against q,
    ``int q(z) g(z) dz ~ sum_i weights_i g(nodes_i)``: Monte Carlo (nodes drawn from q,
    weights 1/N) or quadrature (grid nodes, weights = cell weight times q(node)). Each
    integral of a line is evaluated as that line writes it; log p(x) is the closed form.
    """
    _check_model(model)
    check_tensor("nodes", nodes)
    check_tensor("weights", weights)
    if weights.dim() != 1 or nodes.dim() != 2 or nodes.shape[0] != weights.shape[0]:
        raise ValueError(f"nodes must be (N, J) and weights (N,), got {tuple(nodes.shape)} and {tuple(weights.shape)}")
    log_q = gaussian_log_density(nodes, mean, cov)
    log_lik, log_prior = model.log_likelihood(x, nodes), model.log_prior(nodes)
    log_post, log_px = model.log_posterior(x, nodes), model.log_evidence(x)

    def integral(g: Tensor) -> Tensor:  # contributions of int q g dz
        return weights * g

    const = torch.full_like(weights, 1.0 / weights.shape[0])  # spreads a constant over the N points
    # each key is the label of the book equation its value implements (eq. kl-posterior, eq. rewrite-*)
    return {
        "kl-posterior": integral(log_q - log_post),
        "rewrite-substitute-bayes": integral(log_q - (log_lik + log_prior - log_px)),
        "rewrite-split-quotient": (integral(log_q) + integral(log_px.expand_as(log_q))
                                   - integral(log_lik + log_prior)),
        "rewrite-pull-evidence": (integral(log_q) + log_px * integral(torch.ones_like(log_q))
                                  - integral(log_lik + log_prior)),
        "rewrite-normalisation": log_px * const + integral(log_q) - integral(log_lik + log_prior),
        "rewrite-split-joint": log_px * const + integral(log_q) - integral(log_lik) - integral(log_prior),
        "rewrite-regroup": log_px * const + integral(log_q - log_prior) - integral(log_lik),
        "rewrite-result": log_px * const - integral(log_lik) + integral(log_q - log_prior),
    }



def evidence_explorer(model: LinearGaussian, x: Tensor, mu: Tensor, logvar: Tensor, window: float = 3.5,
                 shift_range: float = 0.6, logvar_range: float = 1.5) -> LiveExplorer:
    """Chapter 4's explorer: a diagonal q = N(mu + (shift, 0), diag exp(logvar + logvar_shift)) (J = 2)
    against the exact posterior, and -log p(x) and KL(q || p(z|x)) stacked into -ELBO.

    The page computes the ELBO as ``log p(x) - KL(q || p(z|x))`` (eq. evidence-decomposition), the KL
    between two Gaussians in closed form; :meth:`LinearGaussian.elbo` is the same number (the browser
    test compares them). Contours are drawn at 0.5 to 2.5 (posterior) and 0.5 to 2 (q) Mahalanobis radii,
    on a square of +-``window`` posterior standard deviations.
    """
    _check_model(model)
    check_tensor("x", x)
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    if mu.shape != (2,) or logvar.shape != (2,):
        raise ValueError(f"mu and logvar must have shape (2,): the explorer draws a plane, so it needs J = 2 latent "
                         f"units, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    for name, v in (("window", window), ("shift_range", shift_range), ("logvar_range", logvar_range)):
        check_positive_number(name, v)
    post_mean, post_cov = model.posterior(x)
    log_px = model.log_evidence(x).item()
    # the bar's scale: the worst q of the sliders' box (the KL is convex in both shifts)
    worst = max(-model.elbo(x, mu + torch.tensor([a, 0.0], dtype=mu.dtype, device=mu.device), diag_cov(logvar + c)).item()
                for a in (-shift_range, shift_range) for c in (-logvar_range, logvar_range))
    exact = lambda t: [float(f"{v:.12g}") for v in t.reshape(-1).tolist()]  # noqa: E731  float64 to 12 digits
    data = {"post_mean": exact(post_mean), "post_cov": exact(post_cov.reshape(-1)[[0, 1, 3]]),
            "log_px": float(f"{log_px:.12g}"), "mu": exact(mu), "logvar": exact(logvar), "window": window,
            "levels": [2.5, 2.0, 1.5, 1.0, 0.5], "q_levels": [0.5, 1.0, 1.5, 2.0],
            "y_max": float(f"{1.05 * max(worst, -log_px + 12):.4g}")}
    sliders = [Slider("shift", "shift of μ₁", -shift_range, shift_range, 0.0, ticks=(-shift_range, 0.0, shift_range)),
               Slider("logvar_shift", "change of v = log σ²", -logvar_range, logvar_range, 0.0,
                      ticks=(-logvar_range, 0.0, logvar_range))]
    return LiveExplorer("evidence-decomposition", "evidence-decomposition", sliders, data,
                        description="Left: the exact posterior p(z | x) as filled contours and the diagonal q as red "
                                    "contours. Right: a bar of -log p(x) with KL(q || p(z | x)) stacked on top, "
                                    "their sum being minus the ELBO.")



def evidence_state(data: dict, learned: dict | None, values: dict) -> dict:
    """What :func:`evidence_explorer`'s page computes at slider ``values``: KL(q || p(z|x)) between two Gaussians
    in closed form, and the ELBO as log p(x) minus it (eq. evidence-decomposition)."""
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    s11, s12, s22 = data["post_cov"]
    q_mu = t(data["mu"][0] + values["shift"], data["mu"][1])
    q_cov = diag_cov(t(*data["logvar"]) + values["logvar_shift"])
    kl = gaussian_kl(q_mu, q_cov, t(*data["post_mean"]), t(s11, s12, s12, s22).reshape(2, 2)).item()
    return {"kl": kl, "elbo": data["log_px"] - kl}

__all__ = [
    "evidence_explorer", "evidence_state", "REWRITE_LINES", "rewrite_chain_closed_form", "rewrite_chain_contributions"]
