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
    diag_cov,
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



def gap_explorer_draw(model: LinearGaussian, x: Tensor, mu: Tensor, logvar: Tensor, window: float = 3.5):
    """The elbo-gap explorer's frames: ``draw(shift, log_scale)`` moves the diagonal q = N(mu, diag exp(logvar))
    (J = 2) by ``shift`` along z_1 and ``log_scale`` in both log-variances, and shows q against the exact
    posterior and log p(x) split into the ELBO and KL(q || p(z|x)) (eq. evidence-decomposition).

    The posterior is drawn on a square of +-``window`` posterior standard deviations, computed once.
    """
    import matplotlib.pyplot as plt

    _check_model(model)
    check_tensor("x", x)
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    if mu.shape != (2,) or logvar.shape != (2,):
        raise ValueError(f"mu and logvar must have shape (2,), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    post_mean, post_cov = model.posterior(x)
    half = window * post_cov.diagonal().sqrt().max()
    f64 = dict(dtype=mu.dtype, device=mu.device)
    grid_1 = torch.linspace(post_mean[0] - half, post_mean[0] + half, 81, **f64)
    grid_2 = torch.linspace(post_mean[1] - half, post_mean[1] + half, 81, **f64)
    zz = torch.stack(torch.meshgrid(grid_1, grid_2, indexing="ij"), -1)
    post_density = model.log_posterior(x, zz).exp().cpu()  # drawn in every frame: computed once
    g1, g2, lpx = grid_1.cpu(), grid_2.cpu(), model.log_evidence(x).item()

    def draw(shift: float, log_scale: float):
        q_mu = mu + torch.tensor([float(shift), 0.0], **f64)
        q_cov = diag_cov(logvar + float(log_scale))
        elbo_q = model.elbo(x, q_mu, q_cov).item()
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(5.6, 3.4), gridspec_kw={"width_ratios": [2.2, 1]})
        ax.contourf(g1, g2, post_density.T, levels=8, cmap="Blues")
        ax.contour(g1, g2, gaussian_log_density(zz, q_mu, q_cov).exp().cpu().T, levels=5, colors="tab:red",
                   linewidths=1)
        ax.set(xlabel="$z_1$", ylabel="$z_2$", title="$p(z \\mid x)$ (filled) and $q$ (red)", aspect="equal")
        # the loss -ELBO = -log p(x) + KL (eq. evidence-decomposition) stacked from 0: both parts are >= 0
        # here (log p(x) < 0 for chapter 4's model), the first is the same for every q, and only the second moves
        kl = lpx - elbo_q
        bx.bar(0, -lpx, color="0.6", label="$-\\log p(x)$")
        bx.bar(0, kl, bottom=-lpx, color="tab:red", label="$D_{\\mathrm{KL}}(q \\,\\Vert\\, p(z \\mid x))$")
        bx.set(xticks=[], ylim=(min(0, -lpx), max(-lpx + 12, 1.05 * -elbo_q)),
               ylabel="$-\\mathcal{L}$ (nats, from 0)",
               title=f"$\\mathcal{{L}}$ = {elbo_q:.2f}\n$D_{{\\mathrm{{KL}}}}$ = {kl:.2f}")
        bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=7, frameon=False)
        fig.subplots_adjust(left=0.11, right=0.97, bottom=0.2, top=0.84, wspace=0.5)
        return fig

    return draw

__all__ = [
    "gap_explorer_draw","REWRITE_LINES", "rewrite_chain_closed_form", "rewrite_chain_contributions"]
