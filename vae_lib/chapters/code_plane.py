"""The principal plane of a cloud of codes, and the latent explorer that decodes it in the page.

Codes are ``e(x)`` for an :class:`~vae_lib.AutoEncoder` and ``mu(x)`` for a :class:`~vae_lib.VAE`
(as in :mod:`vae_lib.chapters.latent`).

Introduced in chapter 1 (the latent explorer), and used again in chapter 2.
"""
from __future__ import annotations

import math
from typing import NamedTuple, cast

import torch
from torch import Tensor

from .._checks import check_instance, check_positive_int, check_positive_number
from ..book import live
from ..book.live import LiveExplorer, Slider
from .latent import Model, _check_matrix, _check_model, decode_images

# --- The principal plane of a cloud of codes -------------------------------------------


class CodePlane(NamedTuple):
    """The plane through the codes' mean spanned by their top two principal axes."""

    mean: Tensor  # (J,)
    axes: Tensor  # (2, J), orthonormal rows
    scales: Tensor  # (2,), standard deviation of the codes along each axis
    explained: Tensor  # (2,), fraction of the codes' total variance along each axis

    def codes(self, a: Tensor, b: Tensor) -> Tensor:
        """Codes ``mean + a s_1 v_1 + b s_2 v_2`` (a, b in standard deviations, shape (N,)): (N, J)."""
        return self.mean + (a[:, None] * self.scales[0]) * self.axes[0] + (b[:, None] * self.scales[1]) * self.axes[1]

    def project(self, z: Tensor) -> Tensor:
        """Coordinates of codes z (N, J) in the plane, in standard deviations: (N, 2)."""
        return (z - self.mean) @ self.axes.T / self.scales


def principal_plane(z: Tensor) -> CodePlane:
    """The :class:`CodePlane` of codes z (N, J), N >= 3, J >= 2 (principal axes by SVD)."""
    _check_matrix("z", z)
    if z.shape[0] < 3 or z.shape[1] < 2:
        raise ValueError(f"z must hold at least 3 codes of dimension >= 2, got {tuple(z.shape)}")
    mean = z.mean(0)
    _, s, v = torch.linalg.svd(z - mean, full_matrices=False)
    var = s.pow(2) / (z.shape[0] - 1)
    return CodePlane(mean, v[:2], var[:2].sqrt(), var[:2] / var.sum())


def plane_explorer(name: str, model: Model, plane: CodePlane, codes: Tensor, labels: Tensor, title: str = "code",
                   max_points: int = 400, grid: int = 15, grid_limit: float = 3.0, limit: float = 3.5) -> LiveExplorer:
    """The latent explorer: ``model``'s decoder, exported (:func:`vae_lib.book.live.export_mlp`), runs in the page.

    The sliders (or the pointer, over either panel) move a code ``plane.codes(a, b)`` (a, b in standard
    deviations, within +-``limit``); the page decodes it at once. Left, up to ``max_points`` of the reference
    ``codes`` (N, J) projected on the plane, each label of ``labels`` (N,) at the centroid of its codes;
    middle, the decoded image; right, the decoded codes of a ``grid`` x ``grid`` lattice over
    +-``grid_limit``, the whole plane at once (Kingma & Welling's manifold figure).
    """
    _check_model(model)
    _check_matrix("codes", codes, model.config.latent_dim)
    check_instance("plane", plane, CodePlane, "a CodePlane (from principal_plane)")
    check_positive_int("max_points", max_points)
    check_positive_int("grid", grid)
    check_instance("labels", labels, Tensor, "a torch.Tensor")
    if labels.shape != codes.shape[:1]:
        raise ValueError(f"labels must have shape ({codes.shape[0]},), got {tuple(labels.shape)}")
    for key, v in (("grid_limit", grid_limit), ("limit", limit)):
        check_positive_number(key, v)
    keep = torch.linspace(0, codes.shape[0] - 1, min(max_points, codes.shape[0])).long()
    xy = plane.project(codes.to(plane.mean.device)).double().cpu()
    labels = labels.cpu()
    centroids = [[int(k), *[round(c, 3) for c in xy[labels == k].mean(0).tolist()]] for k in labels.unique()]
    learned = {
        "decoder": live.export_mlp(model.decoder, output="sigmoid"),
        "mean": [round(v, 6) for v in plane.mean.double().cpu().tolist()],
        # the axes scaled to one standard deviation: code(a, b) = mean + a axes[0] + b axes[1]
        "axes": [[round(v, 6) for v in (plane.scales[i] * plane.axes[i]).double().cpu().tolist()] for i in (0, 1)],
        "cloud": [round(v, 3) for v in xy[keep].reshape(-1).tolist()],
        "centroids": centroids,
    }
    side = math.isqrt(model.config.input_dim)
    if side * side != model.config.input_dim:
        raise ValueError(f"the decoder's images must be square, got input_dim={model.config.input_dim}")
    ticks = tuple(float(t) for t in range(-math.floor(limit), math.floor(limit) + 1))
    sliders = [Slider("a", "axis 1 (std)", -limit, limit, 0.0, ticks=ticks),
               Slider("b", "axis 2 (std)", -limit, limit, 0.0, ticks=ticks)]
    return LiveExplorer(name, "latent-plane", sliders,
                        {"title": title, "side": side, "grid": grid, "grid_limit": grid_limit, "limit": limit},
                        learned=learned,
                        description=f"Left: the {title}s of held-out digits on the principal plane, each class "
                                    "written at its centroid, with the current point marked. Middle: the image the "
                                    "decoder makes of that point. Right: a grid of decoded points over the plane.")


def exported_decoder_error(explorer: LiveExplorer, model: Model, n: int = 29) -> tuple[float, float]:
    """How far the page's decoder (int8 weights) is from ``model``'s: the largest and the mean absolute pixel
    difference over an n x n lattice covering the explorer's sliders."""
    check_positive_int("n", n)
    check_instance("explorer", explorer, LiveExplorer, "a LiveExplorer (plane_explorer)")
    side = torch.linspace(-explorer.data["limit"], explorer.data["limit"], n, dtype=torch.float64)
    a, b = torch.meshgrid(side, side, indexing="ij")
    z = exported_plane_codes(explorer, a.reshape(-1), b.reshape(-1))
    page = live.exported_forward(cast(dict, explorer.learned)["decoder"], z)  # a latent explorer has weights
    error = (page - decode_images(model, z.to(model.device, torch.float32)).double().cpu()).abs()
    return error.max().item(), error.mean().item()


def exported_plane_codes(explorer: LiveExplorer, a: Tensor, b: Tensor) -> Tensor:
    """The codes (N, J) the page decodes at plane coordinates a, b (N,), from the explorer's exported data."""
    check_instance("explorer", explorer, LiveExplorer, "a LiveExplorer (plane_explorer)")
    learned = explorer.learned or {}
    if explorer.kind != "latent-plane" or "axes" not in learned:
        raise ValueError(f"explorer must be a latent-plane explorer (plane_explorer), got {explorer!r}")
    mean, axes = torch.tensor(learned["mean"], dtype=torch.float64), torch.tensor(learned["axes"], dtype=torch.float64)
    return mean + a.double()[:, None] * axes[0] + b.double()[:, None] * axes[1]


def plane_state(data: dict, learned: dict | None, values: dict) -> dict:
    """What :func:`plane_explorer`'s page decodes at plane coordinates ``values["a"], values["b"]``: the pixel
    means of the exported decoder (:func:`vae_lib.book.live.exported_forward`), from the weights the page holds."""
    if not learned or "decoder" not in learned:
        raise ValueError("learned must hold the exported decoder, its plane's mean and axes")
    mean, axes = (torch.tensor(learned[k], dtype=torch.float64) for k in ("mean", "axes"))
    z = mean + values["a"] * axes[0] + values["b"] * axes[1]
    return {"pixels": live.exported_forward(learned["decoder"], z[None])[0].tolist()}


__all__ = ["CodePlane", "exported_decoder_error", "exported_plane_codes", "plane_explorer", "plane_state", "principal_plane"]
