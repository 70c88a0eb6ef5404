"""Block diagrams of the auto-encoder (chapter 1) and the VAE (chapter 2), drawn with Matplotlib.

The source tutorial's two figures are image placeholders; these replace them.
Both functions show a real digit ``x`` (D,) at the input and its reconstruction
``x_hat`` (D,) at the output, so the diagram is also a picture of what the model does.
Before any model is trained (the top of a chapter), pass ``x`` alone: the output box
then shows ``x`` faded, as the target the output should approach. With neither, both
boxes are empty frames (what the tests draw, without data).

Introduced in chapter 1 (the auto-encoder; the VAE diagram in chapter 2).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon
from torch import Tensor

from .._checks import check_tensor

NET = "#dbe8f6"  # networks (learned parameters)
CODE = "#fbe3c4"  # codes and distribution parameters
NOISE = "#e4f2dc"  # the random input of the reparameterisation


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "",
           offset: float = 0.18, **kw) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="black",
                                 shrinkA=0, shrinkB=0, **kw))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + offset, text, ha="center", va="bottom")


def _network(ax: Axes, x0: float, x1: float, h0: float, h1: float, y: float, text: str) -> None:
    """A trapezoid from height h0 at x0 to h1 at x1: a network that narrows or widens."""
    pts = [(x0, y - h0 / 2), (x1, y - h1 / 2), (x1, y + h1 / 2), (x0, y + h0 / 2)]
    ax.add_patch(Polygon(pts, closed=True, facecolor=NET, edgecolor="black", lw=1.2))
    ax.text((x0 + x1) / 2, y, text, ha="center", va="center")


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, colour: str = CODE) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04",
                                facecolor=colour, edgecolor="black", lw=1.2))
    ax.text(x, y, text, ha="center", va="center")


def _image(ax: Axes, image: Tensor | None, x: float, y: float, size: float, caption: str,
           alpha: float = 1.0) -> None:
    """A digit (D,) drawn as a square of side ``size`` centred at (x, y), or an empty frame."""
    extent = (x - size / 2, x + size / 2, y - size / 2, y + size / 2)
    if image is not None:
        check_tensor("image", image)
        if image.numel() != 784:
            raise ValueError(f"image must hold 784 pixels (28 x 28), got shape {tuple(image.shape)}")
        ax.imshow(image.detach().cpu().reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=1, extent=extent,
                  zorder=2, alpha=alpha, interpolation="nearest")
    ax.add_patch(plt.Rectangle(extent[::2], size, size, fill=image is None, facecolor="white",
                               edgecolor="black", lw=1.2, zorder=3 if image is not None else 1))
    ax.text(x, y - size / 2 - 0.12, caption, ha="center", va="top")


def _output(ax: Axes, x: Tensor | None, x_hat: Tensor | None, cx: float, y: float) -> None:
    """The output box: the reconstruction, or else the input faded (the target), or else an empty frame."""
    if x_hat is None and x is not None:
        _image(ax, x, cx, y, 1.3, "output $\\hat{x}$\n(the aim: $\\hat{x} \\approx x$)", alpha=0.35)
    else:
        _image(ax, x_hat, cx, y, 1.3, "output $\\hat{x}$")


def _canvas(width: float, height: float, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=figsize)
    ax.set(xlim=(0, width), ylim=(0, height), aspect="equal")
    ax.axis("off")
    return fig, ax


def autoencoder_diagram(x: Tensor | None = None, x_hat: Tensor | None = None) -> Figure:
    """x -> encoder e_phi -> code z = e_phi(x) -> decoder d_theta -> x_hat = d_theta(z), and the loss."""
    fig, ax = _canvas(10.4, 3.7, (8.0, 2.85))
    ax.set_ylim(-0.25, 3.7)
    y = 2.1
    _image(ax, x, 0.75, y, 1.3, "input $x$")
    _arrow(ax, (1.5, y), (1.95, y))
    _network(ax, 2.0, 4.0, 2.4, 0.8, y, "encoder\n$e_\\phi$")
    _arrow(ax, (4.0, y), (4.75, y), "$e_\\phi(x)$")
    _box(ax, 5.2, y, 0.7, 0.8, "$z$")
    ax.text(5.2, y - 0.6, "code\n$z \\in \\mathbb{R}^J$", ha="center", va="top")
    _arrow(ax, (5.65, y), (6.4, y), "$d_\\theta(z)$")
    _network(ax, 6.4, 8.4, 0.8, 2.4, y, "decoder\n$d_\\theta$")
    _arrow(ax, (8.4, y), (8.9, y))
    _output(ax, x, x_hat, 9.65, y)
    ax.add_patch(FancyArrowPatch((0.75, 0.6), (9.65, 0.6), connectionstyle="arc3,rad=0.06", arrowstyle="<|-|>",
                                 mutation_scale=12, ls="--", lw=1.1, color="dimgrey"))
    ax.text(5.2, -0.18, "loss $\\ell(x, \\hat{x})$: how well $\\hat{x}$ reproduces $x$",
            ha="center", va="bottom", color="dimgrey")
    ax.set_title("Auto-encoder: a deterministic code")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
    return fig


def vae_diagram(x: Tensor | None = None, x_hat: Tensor | None = None) -> Figure:
    """x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps, with eps ~ N(0, I) from the side -> decoder."""
    fig, ax = _canvas(12.6, 4.8, (8.8, 3.35))
    y = 2.9
    _image(ax, x, 0.75, y, 1.3, "input $x$")
    _arrow(ax, (1.5, y), (1.95, y))
    _network(ax, 2.0, 3.9, 2.4, 1.6, y, "encoder\n$\\phi$")
    _box(ax, 4.95, y + 0.45, 1.35, 0.6, "$\\mu_\\phi(x)$")
    _box(ax, 4.95, y - 0.45, 1.35, 0.6, "$\\log\\sigma^2_\\phi(x)$")
    _arrow(ax, (3.9, y + 0.45), (4.2, y + 0.45))
    _arrow(ax, (3.9, y - 0.45), (4.2, y - 0.45))
    ax.add_patch(Circle((7.0, y), 0.62, facecolor=CODE, edgecolor="black", lw=1.2))
    ax.text(7.0, y, "$z = \\mu$\n$+ \\sigma \\odot \\varepsilon$", ha="center", va="center", fontsize=9)
    _arrow(ax, (5.7, y + 0.45), (6.43, y + 0.2))
    _arrow(ax, (5.7, y - 0.45), (6.43, y - 0.2))
    _box(ax, 7.0, 0.75, 1.9, 0.6, "$\\varepsilon \\sim \\mathcal{N}(0, I)$", colour=NOISE)
    _arrow(ax, (7.0, 1.1), (7.0, y - 0.64))
    ax.text(7.12, 1.65, "noise enters\nfrom the side", ha="left", va="center", fontsize=8, color="dimgrey")
    _arrow(ax, (7.64, y), (8.4, y))
    _network(ax, 8.4, 10.3, 1.6, 2.4, y, "decoder\n$\\theta$")
    _arrow(ax, (10.3, y), (10.95, y))
    _output(ax, x, x_hat, 11.75, y)
    ax.text(4.95, y + 1.05, "$q_\\phi(z \\mid x) = \\mathcal{N}(\\mu, \\mathrm{diag}\\,\\sigma^2)$",
            ha="center", va="bottom", fontsize=9)
    ax.text(4.95, y - 1.05, "penalty $D_{\\mathrm{KL}}(q_\\phi(z \\mid x) \\,\\Vert\\, p(z))$",
            ha="center", va="center", fontsize=9, color="dimgrey")
    ax.text(11.75, 1.35, "reconstruction\n$-\\log p_\\theta(x \\mid z)$", ha="center", va="top", fontsize=9,
            color="dimgrey")
    ax.set_title("Variational auto-encoder: a distribution over codes, sampled by reparameterisation")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
    return fig


__all__ = ["autoencoder_diagram", "vae_diagram"]
