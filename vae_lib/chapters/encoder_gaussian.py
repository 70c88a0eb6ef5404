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

from typing import Callable

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse
from torch import Tensor

from ..book._blit import DPI, BlitFigure
from .._checks import check_finite_number, check_tensor
from ..objectives import kl_diag_gaussian_to_standard_normal, kl_logstd_to_standard_normal, source_penalty

# --- The reparameterised sample cloud (chapter 2) --------------------------------------


def sample_cloud_draw(eps: Tensor, mu_2: float = 0.0) -> Callable[..., Figure]:
    """A ``draw(mu_1, logvar_1, logvar_2)``: the samples ``z = mu + sigma * eps`` of fixed eps (S, 2).

    Each point keeps its colour (the angle of its eps) as the sliders move, so
    the cloud visibly shifts and stretches rather than being redrawn; the
    contours of N(0, I) at 1 and 2 standard deviations are shown for reference.
    Frames are pictures rendered at twice their display resolution; ``draw.axes`` is the axes they are drawn from.
    """
    check_tensor("eps", eps)
    if eps.dim() != 2 or eps.shape[1] != 2:
        raise ValueError(f"eps must have shape (N, 2), got {tuple(eps.shape)}")
    check_finite_number("mu_2", mu_2)  # else "mu contains NaN" would come from the KL in every frame
    eps = eps.detach().double().cpu()
    hue = torch.atan2(eps[:, 1], eps[:, 0]).numpy()
    fig = Figure(figsize=(4.4, 3.0), dpi=DPI)  # not a pyplot figure: only the frames are shown
    ax = fig.subplots()
    for r in (1, 2):
        ax.add_patch(Circle((0, 0), r, fill=False, ls="--", color="grey", lw=1))
    ellipses = [ax.add_patch(Ellipse((0, 0), 1, 1, fill=False, color="black", lw=1.2)) for _ in (1, 2)]
    points = ax.scatter(eps[:, 0].numpy(), eps[:, 1].numpy(), c=hue, cmap="hsv", s=6)
    ax.plot([], [], ls="--", color="grey", label="$p(z) = \\mathcal{N}(0, I)$")
    ax.plot([], [], color="black", label="$q_\\phi(z \\mid x)$")
    ax.set(xlim=(-6, 6), ylim=(-4, 4), aspect="equal", xlabel="$z_1$", ylabel="$z_2$")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(" ")
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.14, top=0.9)
    frames = BlitFigure(fig, [points, *ellipses, ax.title])

    def draw(mu_1: float, logvar_1: float, logvar_2: float) -> Figure:
        for name, v in (("mu_1", mu_1), ("logvar_1", logvar_1), ("logvar_2", logvar_2)):
            check_finite_number(name, v)
        mu = torch.tensor([mu_1, mu_2], dtype=torch.float64)
        logvar = torch.tensor([logvar_1, logvar_2], dtype=torch.float64)
        sigma = torch.exp(0.5 * logvar)
        z = mu + sigma * eps  # eq. reparameterisation
        kl = float(kl_diag_gaussian_to_standard_normal(mu, logvar))
        points.set_offsets(z.numpy())
        for r, ellipse in zip((1, 2), ellipses):
            ellipse.set(center=mu.tolist(), width=2 * r * float(sigma[0]), height=2 * r * float(sigma[1]))
        ax.set_title(f"$D_{{\\mathrm{{KL}}}}(q \\,\\Vert\\, p)$ = {kl:.2f} nats")
        return frames.render()

    draw.axes = ax  # type: ignore[attr-defined]  # for tests and for readers who want the live artists
    return draw


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
    if not s_min < s_max:
        raise ValueError(f"s_min must be smaller than s_max, got {s_min} and {s_max}")
    s = torch.linspace(s_min, s_max, 201, dtype=torch.float64)[:, None]
    res = penalty_values_and_gradients(torch.full_like(s, float(mu)), s)
    grid = s[:, 0].numpy()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    styles = {"source": dict(color="C3", lw=2.2), "kl_logvar": dict(color="C0"), "kl_logstd": dict(color="C2")}
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


__all__ = ["PENALTIES", "penalty_figure", "penalty_values_and_gradients", "sample_cloud_draw"]
