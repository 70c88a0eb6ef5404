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

from .._checks import check_tensor
from .linear_gaussian import (
    LinearGaussian,
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
    if not isinstance(model, LinearGaussian):
        raise TypeError(f"model must be a vae_lib.chapters.linear_gaussian.LinearGaussian, got {type(model).__name__}")


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


__all__ = ["REWRITE_LINES", "rewrite_chain_closed_form", "rewrite_chain_contributions"]
