"""Figures: image grids, latent scatter plots and loss curves (Matplotlib)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

from ._checks import check_instance, check_positive_int, check_tensor
from .training import History


def image_grid(images: Tensor, nrow: int = 10, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Tile images (N, 784) or (N, 28, 28) with values in [0, 1] into one grey-scale picture."""
    check_tensor("images", images)
    check_positive_int("nrow", nrow)
    images = images.detach().float().cpu()
    if images.dim() == 2:
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"images of shape {tuple(images.shape)} are not square pictures")
        images = images.reshape(-1, side, side)
    if images.dim() != 3:
        raise ValueError(f"images must be (N, H*W) or (N, H, W), got {tuple(images.shape)}")
    n, h, w = images.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    # 0 is white under "gray_r" (ink is 1): the 2-pixel gutters and any empty cells of the last row stay white
    canvas = torch.zeros(nrows * (h + 2), ncol * (w + 2))
    for i in range(n):
        r, c = divmod(i, ncol)
        canvas[r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (w + 2) + 1 : c * (w + 2) + 1 + w] = images[i]
    if ax is None:
        _, ax = plt.subplots(figsize=(ncol * 0.6, nrows * 0.6))
    ax.imshow(canvas.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def latent_scatter(z: Tensor, labels: Tensor, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Scatter the first two coordinates of z (N, J >= 2), or its top-2 principal components when J > 2."""
    check_tensor("z", z)
    if z.dim() != 2 or z.shape[1] < 2:
        raise ValueError(f"z must have shape (N, J) with J >= 2, got {tuple(z.shape)}")
    check_instance("labels", labels, torch.Tensor, "a torch.Tensor")
    if labels.shape != z.shape[:1]:
        raise ValueError(f"labels must have shape ({z.shape[0]},), one label per code, got {tuple(labels.shape)}")
    z = z.detach().float().cpu()
    xlabel, ylabel = "$z_1$", "$z_2$"
    if z.shape[1] > 2:
        zc = z - z.mean(0)
        _, _, v = torch.linalg.svd(zc, full_matrices=False)
        z = zc @ v[:2].T
        xlabel, ylabel = "principal component 1", "principal component 2"
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels.cpu(), cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
    ax.figure.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def loss_curves(history: History, keys: list[str] | None = None, ax: Axes | None = None,
                ylabel: str = "nats per image") -> Axes:
    """Plot per-epoch curves of the history's terms (all of them by default)."""
    check_instance("history", history, History, "a vae_lib.training.History")
    missing = [k for k in keys or () if k not in history.terms]
    if missing:
        raise ValueError(f"keys {missing} are not in the history, which holds {history.keys()}")
    keys = keys or history.keys()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for k in keys:
        values = history[k]
        ax.plot(range(1, len(values) + 1), values, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
