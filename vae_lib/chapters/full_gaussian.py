"""Gaussians given by a Cholesky factor ``(mean, scale_tril)``: densities, KLs and samples (chapter 7's
full-covariance posteriors; a diagonal q is ``diagonal_scale_tril(logvar)``). Introduced in chapter 7.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_tensor
from ..objectives import LOG_2PI
from ..params import logvar_to_std

# --- Gaussians given by a Cholesky factor -----------------------------------------------


def _check_pair(mean: object, scale_tril: object) -> tuple[Tensor, Tensor]:
    mean = check_tensor("mean", mean)
    scale_tril = check_tensor("scale_tril", scale_tril)
    if mean.dim() < 1:
        raise ValueError("mean must have shape (..., J) with a latent dimension J")
    j = mean.shape[-1]
    if scale_tril.dim() < 2 or scale_tril.shape[-2:] != (j, j):
        raise ValueError(f"scale_tril must have shape (..., {j}, {j}) to match mean, got {tuple(scale_tril.shape)}")
    if scale_tril.dtype != mean.dtype or scale_tril.device != mean.device:
        raise TypeError("scale_tril and mean must share dtype and device")
    if bool((torch.triu(scale_tril, diagonal=1) != 0).any()):
        raise ValueError("scale_tril must be lower triangular")
    if bool((torch.diagonal(scale_tril, dim1=-2, dim2=-1) <= 0).any()):
        raise ValueError("scale_tril must have a positive diagonal")
    return mean, scale_tril


def diagonal_scale_tril(logvar: Tensor) -> Tensor:
    """The Cholesky factor ``diag(sigma)`` of a diagonal Gaussian: logvar (..., J) -> (..., J, J)."""
    check_tensor("logvar", logvar)
    if logvar.dim() < 1:
        raise ValueError("logvar must have shape (..., J) with a latent dimension J")
    return torch.diag_embed(logvar_to_std(logvar))


def scale_tril_from_unconstrained(raw: Tensor) -> Tensor:
    """A Cholesky factor from any square (..., J, J): its strict lower part, and exp of its diagonal."""
    check_tensor("raw", raw)
    if raw.dim() < 2 or raw.shape[-1] != raw.shape[-2]:
        raise ValueError(f"raw must have shape (..., J, J), got {tuple(raw.shape)}")
    return torch.tril(raw, diagonal=-1) + torch.diag_embed(torch.diagonal(raw, dim1=-2, dim2=-1).exp())


def full_gaussian_log_density(z: Tensor, mean: Tensor, scale_tril: Tensor) -> Tensor:
    """``log N(z; mean, L L^T)``: z (..., J), mean (..., J), scale_tril (..., J, J), broadcast -> (...)."""
    mean, scale_tril = _check_pair(mean, scale_tril)
    check_tensor("z", z)
    if z.shape[-1] != mean.shape[-1]:
        raise ValueError(f"z must have shape (..., {mean.shape[-1]}), got {tuple(z.shape)}")
    return _log_density(z, mean, scale_tril)


def _log_density(z: Tensor, mean: Tensor, scale_tril: Tensor) -> Tensor:
    diff = (z - mean).unsqueeze(-1)
    shape = torch.broadcast_shapes(diff.shape[:-2], scale_tril.shape[:-2])
    white = torch.linalg.solve_triangular(scale_tril.expand(*shape, *scale_tril.shape[-2:]),
                                          diff.expand(*shape, *diff.shape[-2:]), upper=False).squeeze(-1)
    half_logdet = torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1)).sum(-1)
    # eq. full-covariance-log-density
    return -0.5 * (z.shape[-1] * LOG_2PI + white.pow(2).sum(-1)) - half_logdet


def full_gaussian_kl_to_standard_normal(mean: Tensor, scale_tril: Tensor) -> Tensor:
    """``KL(N(mean, L L^T) || N(0, I))`` in closed form: (..., J), (..., J, J) -> (...)."""
    mean, scale_tril = _check_pair(mean, scale_tril)
    return _kl(mean, scale_tril)


def _kl(mean: Tensor, scale_tril: Tensor) -> Tensor:
    log_diag = torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1))
    # eq. full-covariance-kl: (tr(L L^T) + |m|^2 - J - log det(L L^T)) / 2
    return 0.5 * (scale_tril.pow(2).sum((-2, -1)) + mean.pow(2).sum(-1) - mean.shape[-1]) - log_diag.sum(-1)


def _sample(mean: Tensor, scale_tril: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    eps = torch.randn((k, *mean.shape), dtype=mean.dtype, device=mean.device, generator=generator)
    return mean + (scale_tril @ eps.unsqueeze(-1)).squeeze(-1)  # z = m + L eps, (k, B, J)


__all__ = ["diagonal_scale_tril", "full_gaussian_kl_to_standard_normal", "full_gaussian_log_density",
           "scale_tril_from_unconstrained"]
