"""The Gaussian pieces of the KL chapters: the two terms of the closed form, Monte Carlo
estimates with their standard errors, a figure and chapter 3's explorer.

Introduced in chapter 3 (the KL explorer, Monte Carlo checks) and chapter 5 (the
terms of source Eq. (6), the per-unit KL map). The closed-form KLs themselves
live in :mod:`vae_lib.objectives`; this module adds what is needed to *check*
and *show* them. Gaussians are parameterised as everywhere in the book, by
``(mu, logvar)`` with ``logvar = log sigma^2``.

Introduced in chapter 5 (the closed-form Gaussian KL), and used again in chapter 3.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm
from torch import Tensor

from .._checks import check_below, check_finite_number, check_int, check_positive_number, check_range, check_tensor
from ..book.live import LiveExplorer, Slider
from ..divergences import MCEstimate, kl_diag_gaussian_to_standard_normal, kl_diag_gaussians, mc_estimate
from ..objectives import LOG_2PI, normal_log_prob

# --- Densities and the two terms of the closed form ------------------------------------


def _check_pair(mu: Tensor, logvar: Tensor, names: tuple[str, str] = ("mu", "logvar")) -> None:
    check_tensor(names[0], mu)
    check_tensor(names[1], logvar)
    if mu.shape != logvar.shape or mu.dim() < 1:
        raise ValueError(f"{names[0]} and {names[1]} must share one shape (..., J), got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")


def gaussian_entropy_term(mu: Tensor, logvar: Tensor) -> Tensor:
    """``int q log q`` for ``q = N(mu, diag sigma^2)``: minus the entropy of q. (..., J) -> (...).

    It does not depend on ``mu``; ``mu`` is taken only so that the signature
    matches :func:`gaussian_cross_entropy_term` (and its shape is checked).
    """
    _check_pair(mu, logvar)
    j = mu.shape[-1]
    # eq. gaussian-entropy-term: -(J/2) log 2 pi - 1/2 sum_j (1 + log sigma_j^2)
    return -0.5 * j * LOG_2PI - 0.5 * (1.0 + logvar).sum(-1)


def gaussian_cross_entropy_term(mu: Tensor, logvar: Tensor, mu_p: Tensor | None = None,
                                logvar_p: Tensor | None = None) -> Tensor:
    """``int q log p`` for ``q = N(mu, diag sigma^2)``: minus the cross-entropy of p relative to q.

    ``p = N(0, I)`` by default, or ``N(mu_p, diag exp(logvar_p))`` when both are given.
    All tensors (..., J) of one shape; returns (...).
    """
    _check_pair(mu, logvar)
    j = mu.shape[-1]
    if mu_p is None and logvar_p is None:
        # eq. gaussian-cross-entropy-term: -(J/2) log 2 pi - 1/2 sum_j (mu_j^2 + sigma_j^2)
        return -0.5 * j * LOG_2PI - 0.5 * (mu.pow(2) + logvar.exp()).sum(-1)
    if mu_p is None or logvar_p is None:
        raise ValueError("give both mu_p and logvar_p (a general Gaussian p), or neither (p = N(0, I))")
    _check_pair(mu_p, logvar_p, ("mu_p", "logvar_p"))  # name the caller's arguments, not mu/logvar
    if mu_p.shape != mu.shape:
        raise ValueError(f"mu_p has shape {tuple(mu_p.shape)} but mu has shape {tuple(mu.shape)}; they must match")
    # eq. gaussian-cross-entropy-general: E_q[(z_j - mu_p,j)^2] = sigma_j^2 + (mu_j - mu_p,j)^2
    second = (logvar.exp() + (mu - mu_p).pow(2)) * torch.exp(-logvar_p)
    return -0.5 * j * LOG_2PI - 0.5 * (logvar_p + second).sum(-1)


# --- Monte Carlo with a standard error -------------------------------------------------


# --- Figures ---------------------------------------------------------------------------


def kl_explorer(mu_range: tuple[float, float] = (-2.0, 2.0), logvar_range: tuple[float, float] = (-3.0, 3.0),
                mu_p: float = 0.0, logvar_p: float = 0.0, y_max: float = 1.9) -> LiveExplorer:
    """Chapter 3's explorer: q = N(mu, e^v) against a fixed p = N(mu_p, e^logvar_p), both KLs in the title.

    The page evaluates eq. kl-two-gaussians (J = 1), the formula of
    :func:`vae_lib.divergences.kl_diag_gaussians`, at every slider position. The density
    axis is ``[0, y_max]`` throughout, so heights compare; the default holds the narrowest
    q of the default range (log-variance -3: peak 1.79).
    """
    mu_range, logvar_range = check_range("mu_range", mu_range), check_range("logvar_range", logvar_range)
    for name, (lo, hi) in (("mu_range", mu_range), ("logvar_range", logvar_range)):
        if not lo <= 0.0 <= hi:  # q starts at N(0, 1)
            raise ValueError(f"{name} must contain 0 (the sliders start at q = N(0, 1)), got {(lo, hi)}")
    for name, v in (("mu_p", mu_p), ("logvar_p", logvar_p)):
        check_finite_number(name, v)
    check_positive_number("y_max", y_max)
    sliders = [Slider("mu_q", "mean μ of q", *mu_range, value=0.0, ticks=_integer_ticks(mu_range)),
               Slider("logvar_q", "log-variance v = log σ² of q", *logvar_range, value=0.0,
                      ticks=_integer_ticks(logvar_range))]
    data = {"mu_p": float(mu_p), "logvar_p": float(logvar_p), "y_max": float(y_max), "n_points": 301}
    return LiveExplorer("kl-two-gaussians-explorer", "kl-gaussians", sliders, data,
                        description="Densities of the fixed Gaussian p and of q over z, with the KL divergence in "
                                    "both directions, D(q || p) and D(p || q), in the title.")


def _integer_ticks(bounds: tuple[float, float]) -> tuple[float, ...]:
    lo, hi = bounds
    return tuple(float(t) for t in range(math.ceil(lo), math.floor(hi) + 1))


def kl_per_unit_grid(mu_max: float = 3.0, logvar_min: float = -4.0, logvar_max: float = 4.0,
                     n: int = 201) -> tuple[Tensor, Tensor, Tensor]:
    """The KL of one latent unit, ``1/2 (mu^2 + sigma^2 - 1 - log sigma^2)``, on an n x n grid.

    Returns ``(mu, logvar, kl)``, each (n, n) (``mu`` varies along columns).
    """
    check_int("n", n, low=2)  # a grid has two ends
    # checked here: an inf bound would otherwise surface as "mu contains NaN" from the KL below
    check_positive_number("mu_max", mu_max)
    for name, v in (("logvar_min", logvar_min), ("logvar_max", logvar_max)):
        check_finite_number(name, v)
    check_below(("logvar_min", "logvar_max"), logvar_min, logvar_max)
    mu = torch.linspace(-mu_max, mu_max, n, dtype=torch.float64)
    logvar = torch.linspace(logvar_min, logvar_max, n, dtype=torch.float64)
    lv, m = torch.meshgrid(logvar, mu, indexing="ij")
    # eq. kl-per-unit, through the book's one implementation of eq. kl-closed-form
    kl = kl_diag_gaussian_to_standard_normal(m.reshape(-1, 1), lv.reshape(-1, 1), reduction="none")
    return m, lv, kl.reshape(n, n)


def kl_per_unit_contour(ax: Axes | None = None, **grid_kwargs) -> Axes:
    """Contour map of the per-unit KL over (mu, log sigma^2), the minimum at (0, 0) marked."""
    m, lv, kl = kl_per_unit_grid(**grid_kwargs)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    levels = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8]
    bounds = [0.0, *levels, math.ceil(max(16.0, float(kl.max())))]  # the top band ends at the map's maximum
    # one colour per band, evenly spread, whatever the (roughly geometric) spacing of the levels
    norm = BoundaryNorm(bounds, ncolors=256)
    arrays = m.numpy(), lv.numpy(), kl.numpy()
    filled = ax.contourf(*arrays, levels=bounds, cmap="viridis_r", norm=norm)
    lines = ax.contour(*arrays, levels=levels, colors="white", linewidths=0.6)
    ax.clabel(lines, fmt="%g", fontsize=7)
    ax.figure.colorbar(filled, ax=ax, label="KL of one unit (nats)", spacing="uniform", ticks=bounds,
                      format="%g")  # every band labelled at both ends, the top one too
    ax.plot([0], [0], marker="*", color="red", markersize=12, linestyle="none",
            label=r"minimum: $q_j = p = \mathcal{N}(0, 1)$")
    ax.set_xlabel(r"$\mu_j$")
    ax.set_ylabel(r"$\log\sigma_j^2$")
    ax.set_title("KL contributed by one latent unit")
    ax.legend(loc="lower left", fontsize=8)
    return ax


def kl_explorer_state(data: dict, learned: dict | None, values: dict) -> dict:
    """What :func:`kl_explorer`'s page computes at slider ``values``: both directions of eq. kl-two-gaussians,
    from vae_lib's one copy of the formula (the registry, vae_lib.book.kinds, points the browser test here)."""
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    q, p = (t(values["mu_q"]), t(values["logvar_q"])), (t(data["mu_p"]), t(data["logvar_p"]))
    return {"kl_qp": kl_diag_gaussians(*q, *p).item(), "kl_pq": kl_diag_gaussians(*p, *q).item()}


__all__ = ["gaussian_cross_entropy_term", "gaussian_entropy_term", "kl_explorer", "kl_explorer_state", "kl_per_unit_contour", "kl_per_unit_grid", "mc_estimate", "MCEstimate", "normal_log_prob"]
