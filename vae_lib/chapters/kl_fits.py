"""Fitting one Gaussian to a bimodal target by forward and by reverse KL (chapter 3).

The target is a 1-D mixture of Gaussians. The *forward* fit minimises
``KL(p || q)`` and has a closed form (moment matching); the *reverse* fit
minimises ``KL(q || p)``, the direction a VAE minimises, by gradient descent on
``(mu, log sigma^2)``. Both divergences are computed by deterministic
quadrature (:func:`vae_lib.divergences.kl_quadrature`), so the fits are
reproducible to the last digit and their gradients are exact up to the
quadrature error.

Introduced in chapter 3 (KL divergence).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, cast

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from torch import Tensor

from .._checks import (
    check_choice,
    check_finite_number,
    check_generator,
    check_instance,
    check_positive_int,
    check_positive_number,
    check_tensor,
)
from ..divergences import kl_quadrature
from .closed_form_kl import normal_log_prob

DIRECTIONS = ("forward", "reverse")
# what each direction computes, for labels: p is the target, q the fitted Gaussian
DIRECTIONS_TEX = {"forward": r"$D_{\mathrm{KL}}(p \,\Vert\, q)$", "reverse": r"$D_{\mathrm{KL}}(q \,\Vert\, p)$"}
BOUNDS = (-12.0, 12.0)  # quadrature interval: wide enough for every q met in chapter 3
N_POINTS = 1201  # spacing 0.02: the trapezoid rule is spectrally accurate for these smooth, fast-decaying integrands


@dataclass(frozen=True)
class GaussianMixture1D:
    """``p(x) = sum_k w_k N(x; m_k, s_k^2)`` in one dimension; ``s_k`` are standard deviations."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        for name, check in (("weights", check_positive_number), ("means", check_finite_number),
                            ("stds", check_positive_number)):
            values = getattr(self, name)
            check_instance(name, values, (tuple, list), "a tuple of numbers")
            for i, v in enumerate(values):
                check(f"{name}[{i}]", v)
        k = len(self.weights)
        if k < 1 or len(self.means) != k or len(self.stds) != k:
            raise ValueError("weights, means and stds must be non-empty and of equal length, got "
                             f"{len(self.weights)}, {len(self.means)}, {len(self.stds)}")
        if abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError(f"weights must sum to 1, got {self.weights}")

    def _params(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        as_t = lambda v: torch.tensor(v, dtype=like.dtype, device=like.device)  # noqa: E731
        return as_t(self.weights), as_t(self.means), as_t(self.stds)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` elementwise, x: (...) -> (...); log-sum-exp keeps the far tails finite."""
        check_tensor("x", x)
        w, m, s = self._params(x)
        # eq. mixture-density, one component per trailing column
        comp = normal_log_prob(x.unsqueeze(-1), m, 2 * torch.log(s))
        return torch.logsumexp(torch.log(w) + comp, dim=-1)

    def mean(self) -> float:
        # eq. mixture-moments: E[x] = sum_k w_k m_k
        return sum(w * m for w, m in zip(self.weights, self.means))

    def variance(self) -> float:
        # eq. mixture-moments: Var[x] = sum_k w_k (s_k^2 + m_k^2) - E[x]^2
        second = sum(w * (s * s + m * m) for w, m, s in zip(self.weights, self.means, self.stds))
        return second - self.mean() ** 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n float64 draws (n,): a component by its weight, then a Gaussian draw from it."""
        check_positive_int("n", n)
        check_generator("generator", generator, torch.device("cpu"))
        w, m, s = self._params(torch.empty(0, dtype=torch.float64))
        k = torch.multinomial(w, n, replacement=True, generator=generator)
        return m[k] + s[k] * torch.randn(n, dtype=torch.float64, generator=generator)


class GaussianFit(NamedTuple):
    """A fitted ``q = N(mu, exp(logvar))`` and the divergence it reached."""

    mu: float
    logvar: float
    kl: float  # the minimised divergence at (mu, logvar), nats
    path: Tensor  # (steps + 1, 2): (mu, logvar) after each step; one row for a closed form

    @property
    def std(self) -> float:
        return math.exp(0.5 * self.logvar)


def kl_to_gaussian(target: GaussianMixture1D, mu: float | Tensor, logvar: float | Tensor,
                   direction: str) -> Tensor:
    """``KL(p || q)`` (``"forward"``) or ``KL(q || p)`` (``"reverse"``), q = N(mu, exp(logvar)).

    A scalar tensor, differentiable in ``mu`` and ``logvar`` when they are tensors.
    """
    check_choice("direction", direction, DIRECTIONS)
    check_instance("target", target, GaussianMixture1D, "a GaussianMixture1D")
    log_q = lambda x: normal_log_prob(x, mu, logvar)  # noqa: E731
    if direction == "forward":
        # eq. kl-continuous with (P, Q) = (p, q)
        return kl_quadrature(target.log_prob, log_q, *BOUNDS, n_points=N_POINTS)
    # eq. reverse-kl-objective: the same integral with the roles swapped
    return kl_quadrature(log_q, target.log_prob, *BOUNDS, n_points=N_POINTS)


def moment_match(target: GaussianMixture1D) -> GaussianFit:
    """The closed-form forward-KL fit: q has the target's mean and variance."""
    mu, var = target.mean(), target.variance()  # eq. forward-kl-moment-matching
    kl = float(kl_to_gaussian(target, mu, math.log(var), "forward"))
    return GaussianFit(mu, math.log(var), kl, torch.tensor([[mu, math.log(var)]], dtype=torch.float64))


def fit_gaussian(target: GaussianMixture1D, direction: str, mu0: float, logvar0: float,
                 steps: int = 300, lr: float = 0.2) -> GaussianFit:
    """Minimise the KL in ``direction`` over (mu, logvar) by plain gradient descent from (mu0, logvar0).

    Deterministic: the objective is a quadrature, not a sample, and autograd
    differentiates through it. The reverse direction has one local minimum per
    well-separated mode; which one is found depends on the start. The default
    step size is stable for chapter 3's target (about 1 / the largest curvature).
    """
    check_choice("direction", direction, DIRECTIONS)
    check_positive_int("steps", steps)
    check_positive_number("lr", lr)
    # a NaN start would be reported as "mu contains NaN" from inside the quadrature
    check_finite_number("mu0", mu0)
    check_finite_number("logvar0", logvar0)
    theta = torch.tensor([float(mu0), float(logvar0)], dtype=torch.float64, requires_grad=True)
    path = [theta.detach().clone()]
    for _ in range(steps):
        (grad,) = torch.autograd.grad(kl_to_gaussian(target, theta[0], theta[1], direction), theta)
        with torch.no_grad():
            theta -= lr * grad  # a plain gradient step on (mu, log sigma^2)
        path.append(theta.detach().clone())
    mu, logvar = (float(v) for v in theta.detach())
    return GaussianFit(mu, logvar, float(kl_to_gaussian(target, mu, logvar, direction)), torch.stack(path))


def kl_landscape(target: GaussianMixture1D, direction: str, mus: Tensor, logvars: Tensor) -> Tensor:
    """The KL in ``direction`` at every (mu, logvar) of a grid: (L,), (M,) -> (L, M), rows = logvar."""
    check_tensor("mus", mus)
    check_tensor("logvars", logvars)
    if mus.dim() != 1 or logvars.dim() != 1:
        raise ValueError("mus and logvars must be 1-D grids")
    lv, m = torch.meshgrid(logvars.double(), mus.double(), indexing="ij")
    # one (G, 1) column of parameters against the (N,) quadrature grid: all G integrals at once
    return kl_to_gaussian(target, m.reshape(-1, 1), lv.reshape(-1, 1), direction).reshape(lv.shape)


def plot_fits(target: GaussianMixture1D, fits: dict[str, GaussianFit], ax: Axes | None = None,
              colors: list[str] | None = None) -> Axes:
    """The target density and each fitted Gaussian, labelled by the keys of ``fits``."""
    colors = colors or [f"C{i}" for i in range(len(fits))]
    x = torch.linspace(-6.0, 6.0, 1201, dtype=torch.float64)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.fill_between(x.numpy(), target.log_prob(x).exp().numpy(), color="0.8", label=r"target $p$ (mixture)")
    styles = ["-", "--", ":", "-."]
    for i, (label, fit) in enumerate(fits.items()):
        ax.plot(x.numpy(), normal_log_prob(x, fit.mu, fit.logvar).exp().numpy(), linestyle=styles[i % 4], lw=2,
                color=colors[i], label=label)
    ax.set_xlabel("$z$")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_landscape(target: GaussianMixture1D, direction: str, fits: dict[str, GaussianFit],
                   ax: Axes | None = None, mu_range: tuple[float, float] = (-4.0, 4.0),
                   logvar_range: tuple[float, float] = (-3.0, 2.5), n: int = 41,
                   colors: list[str] | None = None, marks: dict[str, list[tuple[float, float]]] | None = None) -> Axes:
    """Contours of the KL in ``direction`` over (mu, log sigma^2), with each fit's path and end point.

    ``marks`` maps a legend label to points (mu, logvar), e.g. saddle points from :func:`find_stationary`:
    a label containing "saddle" is drawn as black crosses, any other as black plus signs.
    """
    colors = colors or [f"C{i}" for i in range(len(fits))]
    mus = torch.linspace(*mu_range, n, dtype=torch.float64)
    logvars = torch.linspace(*logvar_range, n, dtype=torch.float64)
    kl = kl_landscape(target, direction, mus, logvars)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    # log-spaced levels: the interesting structure (minima, saddle) sits at small values
    levels = torch.logspace(math.log10(float(kl.min())) - 0.05, math.log10(float(kl.max())), 25).tolist()
    lines = ax.contour(mus.numpy(), logvars.numpy(), kl.numpy(), levels=levels, cmap="viridis", linewidths=0.8,
                       norm=LogNorm(levels[0], levels[-1]))
    # every fourth level, on the lines and on the colourbar: readable, not crowded
    labelled = cast("np.ndarray", lines.levels)[::4]
    ax.clabel(lines, labelled, fmt="%.1f", fontsize=7)  # one format, one decimal, on the lines and on the bar
    ax.figure.colorbar(lines, ax=ax, ticks=labelled, format="%.1f", label=f"{DIRECTIONS_TEX[direction]} (nats)")
    for i, (label, fit) in enumerate(fits.items()):
        color = colors[i]
        ax.plot(fit.path[:, 0].numpy(), fit.path[:, 1].numpy(), color=color, lw=1.5)
        ax.plot(float(fit.path[0, 0]), float(fit.path[0, 1]), "o", color=color, markersize=4)
        ax.plot(fit.mu, fit.logvar, "*", color=color, markersize=11, label=label)
    for label, points in (marks or {}).items():
        mus_, logvars_ = zip(*points)
        ax.plot(mus_, logvars_, "X" if "saddle" in label else "P", color="k", markersize=7, ls="none", label=label)
    ax.set_xlabel(r"$\mu$")
    ax.set_ylabel(r"$v = \log\sigma^2$")
    ax.legend(fontsize=8, loc="upper center", framealpha=0.9)
    return ax


def find_stationary(target: GaussianMixture1D, direction: str, mu0: float, logvar0: float,
                    steps: int = 50) -> tuple[float, float, int]:
    """The stationary point of the KL in ``direction`` that Newton's method reaches from (mu0, logvar0).

    Returns (mu, logvar, the number of negative Hessian eigenvalues there): 0 for a minimum, 1 for a saddle.
    Newton's method converges to a nearby stationary point whatever its kind; raises if it does not converge.
    """
    theta = torch.tensor([float(mu0), float(logvar0)], dtype=torch.float64)

    def kl(t: Tensor) -> Tensor:
        return kl_to_gaussian(target, t[0], t[1], direction)

    for _ in range(steps):
        grad = torch.autograd.functional.jacobian(kl, theta)
        if float(grad.norm()) < 1e-12:
            break
        theta = theta - torch.linalg.solve(torch.autograd.functional.hessian(kl, theta), grad)
        if not bool(torch.isfinite(theta).all()) or float(theta.abs().max()) > 20:
            raise RuntimeError(f"Newton's method left the plane from ({mu0}, {logvar0}); start nearer a stationary point")
    grad = torch.autograd.functional.jacobian(kl, theta)
    if float(grad.norm()) > 1e-8:
        raise RuntimeError(f"no stationary point reached from ({mu0}, {logvar0}): |gradient| {float(grad.norm()):.2e}")
    eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(kl, theta))
    return float(theta[0]), float(theta[1]), int((eig < 0).sum())


__all__ = ["DIRECTIONS", "GaussianFit", "GaussianMixture1D", "find_stationary", "fit_gaussian", "kl_landscape",
           "kl_to_gaussian", "moment_match", "plot_fits", "plot_landscape"]
