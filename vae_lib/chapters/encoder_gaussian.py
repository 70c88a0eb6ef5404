"""The encoder's Gaussian q(z|x) in pictures (chapter 2): the reparameterised sample
cloud, and the source's KL penalty next to the two true KLs it could mean.

The source writes ``q(z|x) = N(mu, exp(s)^2)``, so its ``s`` is a log standard
deviation, yet penalises ``sum_j (exp(s_j) - (1 + s_j) + mu_j^2)``, which is
``2 KL`` only when ``s`` is a log-*variance*. This module evaluates the three
functions and their gradients side by side; the functions themselves live in
:mod:`vae_lib.objectives`.

Introduced in chapter 2 (the variational auto-encoder).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .._checks import check_below, check_finite_number, check_positive_int, check_tensor
from ..book import noise
from ..book.live import LiveExplorer, Slider
from ..divergences import kl_diag_gaussian_to_standard_normal, kl_logstd_to_standard_normal, source_penalty

# --- The reparameterised sample cloud (chapter 2) --------------------------------------


def sample_cloud_explorer(n: int = 300, seed: int = 0, mu_2: float = 0.0) -> LiveExplorer:
    """Chapter 2's explorer: the codes ``z = mu + sigma * eps`` of n fixed noise vectors eps.

    eps is :func:`vae_lib.book.noise.seeded_normal` ``(n, 2, seed)``, drawn identically in the page,
    so the cloud is the same picture everywhere. Each point keeps its colour (the angle of
    its eps) as the sliders move ``mu_1``, ``v_1 = log sigma_1^2`` and ``v_2``; ``mu_2`` is fixed.
    The title shows ``KL(q || N(0, I))`` (eq. kl-closed-form).
    """
    check_positive_int("n", n)
    check_finite_number("mu_2", mu_2)
    sliders = [Slider("mu_1", "μ₁", -3.0, 3.0, 0.0, ticks=(-3, -2, -1, 0, 1, 2, 3)),
               Slider("logvar_1", "v₁ = log σ₁²", -3.0, 3.0, 0.0, ticks=(-3, -2, -1, 0, 1, 2, 3)),
               Slider("logvar_2", "v₂ = log σ₂²", -3.0, 3.0, 0.0, ticks=(-3, -2, -1, 0, 1, 2, 3))]
    noise.seeded_uniform(1, seed)  # checks the seed here, not in the page
    return LiveExplorer("reparameterised-cloud", "reparameterised-cloud", sliders,
                        {"n": n, "seed": seed, "mu_2": float(mu_2)},
                        description=f"{n} samples z = mu + sigma * eps in the (z1, z2) plane, with the contours of "
                                    "the prior N(0, I) dashed and those of q solid, and KL(q || p) in the title.")


# --- The source's penalty and the two KLs --------------------------------------------


PenaltyFn = Callable[[Tensor, Tensor], Tensor]

# name -> (function of (mu, s) summed over the last dimension, its label). In labels the source's scale
# symbol is varsigma (the book's name for it); its q(z|x) = N(mu, exp(varsigma)^2) makes it the log standard
# deviation rho, while the KL "if it were a log-variance" reads the same number as v = log sigma^2.
PENALTIES: dict[str, tuple[PenaltyFn, str]] = {
    "source": (source_penalty, "source: $e^\\varsigma - (1 + \\varsigma) + \\mu^2$"),
    "kl_logvar": (lambda mu, s: kl_diag_gaussian_to_standard_normal(mu, s, reduction="none"),
                  "$D_{\\mathrm{KL}}$ if $\\varsigma$ were $v = \\log\\sigma^2$"),
    "kl_logstd": (kl_logstd_to_standard_normal, "$D_{\\mathrm{KL}}$ with $\\varsigma = \\rho = \\log\\sigma$"),
}


def penalty_values_and_gradients(mu: Tensor, s: Tensor) -> dict[str, dict[str, Tensor]]:
    """Value and autograd gradients (d/dmu, d/ds) of each penalty at points (mu, s), each (N, J).

    Returns ``{name: {"value": (N,), "d_mu": (N, J), "d_s": (N, J)}}`` for the
    names of :data:`PENALTIES`.
    """
    check_tensor("mu", mu)
    check_tensor("s", s)
    if mu.shape != s.shape or mu.dim() != 2:
        raise ValueError(f"mu and s must both have shape (N, J), got {tuple(mu.shape)} and {tuple(s.shape)}")
    out = {}
    for name, (fn, _) in PENALTIES.items():
        m, t = mu.detach().clone().requires_grad_(True), s.detach().clone().requires_grad_(True)
        value = fn(m, t)
        d_mu, d_s = torch.autograd.grad(value.sum(), (m, t))  # points are independent: sum gives each gradient
        out[name] = {"value": value.detach(), "d_mu": d_mu, "d_s": d_s}
    return out


def penalty_figure(s_min: float = -3.0, s_max: float = 2.0, mu: float = 0.0) -> Figure:
    """The three penalties of one latent unit (J = 1) and their slopes in s, for s in [s_min, s_max]."""
    # the caller's names: an inf here would otherwise be reported as NaN in the internal "s" or "mu"
    for name, v in (("s_min", s_min), ("s_max", s_max), ("mu", mu)):
        check_finite_number(name, v)
    check_below(("s_min", "s_max"), s_min, s_max)
    s = torch.linspace(s_min, s_max, 201, dtype=torch.float64)[:, None]
    res = penalty_values_and_gradients(torch.full_like(s, float(mu)), s)
    grid = s[:, 0].numpy()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    styles: dict[str, dict[str, Any]] = {"source": dict(color="C3", lw=2.2), "kl_logvar": dict(color="C0"),
                                         "kl_logstd": dict(color="C2")}
    for name, (_, label) in PENALTIES.items():
        left.plot(grid, res[name]["value"].numpy(), label=label, **styles[name])
        right.plot(grid, res[name]["d_s"][:, 0].numpy(), label=label, **styles[name])
    left.plot(grid, 2 * res["kl_logvar"]["value"].numpy(), ls=":", color="black",
              label="$2 \\times D_{\\mathrm{KL}}$ if $\\varsigma$ were $v$")
    left.set(ylim=(-0.1, 4), xlabel="$\\varsigma$, the source's scale variable", ylabel="penalty (nats for the KLs)",
             title=f"Values at $\\mu = {mu:g}$")
    right.axhline(0, color="grey", lw=0.8)
    right.set(ylim=(-1.5, 4), xlabel="$\\varsigma$, the source's scale variable",
              ylabel="slope of each penalty, $\\partial\\,\\mathrm{penalty} / \\partial\\varsigma$",
              title="Slopes in $\\varsigma$")
    left.legend(fontsize=8)
    right.legend(fontsize=8, loc="upper left")  # the slopes are small there, below 1
    fig.tight_layout()
    return fig


def sample_cloud_state(data: dict, learned: dict | None, values: dict) -> dict:
    """What :func:`sample_cloud_explorer`'s page computes: KL(q || N(0, I)) of eq. kl-closed-form, by
    ``divergences.kl_units`` (through the summed KL), the one copy the page's formula is checked against."""
    mu = torch.tensor([values["mu_1"], data["mu_2"]], dtype=torch.float64)
    logvar = torch.tensor([values["logvar_1"], values["logvar_2"]], dtype=torch.float64)
    return {"kl": kl_diag_gaussian_to_standard_normal(mu, logvar).item()}


__all__ = ["PENALTIES", "penalty_figure", "penalty_values_and_gradients", "sample_cloud_explorer", "sample_cloud_state"]
