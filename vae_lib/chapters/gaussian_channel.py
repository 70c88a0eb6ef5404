"""A channel whose every term is a closed form: the rate-distortion bounds of chapter 8, checked exactly.

Gaussian "images" ``x ~ N(0, cov_x)``, a linear Gaussian encoder and a linear Gaussian decoder: the
rate, the distortion, the mutual information of the encoder's joint, the KL of the aggregate
posterior to the prior and the entropy of the data are all closed forms (float64), so each step of
eq. rate-split to eq. rate-distortion-bound can be checked to round-off. Introduced in chapter 8.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_positive_int, check_positive_number, check_tensor
from ..objectives import LOG_2PI


@dataclass(frozen=True)
class GaussianChannel:
    """Data ``x ~ N(0, cov_x)`` (D,), encoder ``q(z|x) = N(A x, diag exp(logvar))``, decoder ``N(W z + b, s^2 I)``.

    Every quantity of the rate-distortion plane is a closed form here (float64): the rate, the
    distortion, the mutual information of the encoder's joint, the KL of the aggregate posterior
    to the prior, and the entropy of the data.
    """

    cov_x: Tensor  # (D, D)
    A: Tensor  # (J, D)
    logvar: Tensor  # (J,)
    W: Tensor  # (D, J)
    b: Tensor  # (D,)
    variance: float  # the decoder's s^2

    def __post_init__(self) -> None:
        for name in ("cov_x", "A", "logvar", "W", "b"):
            check_tensor(name, getattr(self, name))
        d, j = self.cov_x.shape[-1], self.logvar.shape[-1]
        shapes = {"cov_x": (d, d), "A": (j, d), "logvar": (j,), "W": (d, j), "b": (d,)}
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} must have shape {shape} (D = {d}, J = {j}), got {tuple(getattr(self, name).shape)}")
        if not torch.allclose(self.cov_x, self.cov_x.T) or torch.linalg.cholesky_ex(self.cov_x).info != 0:
            raise ValueError("cov_x must be a symmetric positive-definite covariance")
        check_positive_number("variance", self.variance)

    def _cov_z(self) -> Tensor:  # the aggregate posterior q(z) = N(0, A cov_x A^T + V)
        return self.A @ self.cov_x @ self.A.T + torch.diag(self.logvar.exp())

    def rate(self) -> float:
        """``E_x KL(q(z|x) || N(0, I))``."""
        j = self.A.shape[0]
        return 0.5 * (self.logvar.exp().sum() + torch.trace(self.A @ self.cov_x @ self.A.T) - j - self.logvar.sum()).item()

    def mutual_information(self) -> float:
        """``I_q(x; z) = 1/2 (log det cov_z - log det V)``."""
        return 0.5 * (torch.logdet(self._cov_z()) - self.logvar.sum()).item()

    def marginal_kl(self) -> float:
        """``KL(q(z) || p(z))`` of the aggregate posterior."""
        cov_z = self._cov_z()
        return 0.5 * (torch.trace(cov_z) - cov_z.shape[0] - torch.logdet(cov_z)).item()

    def distortion(self) -> float:
        """``-E_{x, z ~ q} log N(x; W z + b, s^2 I)``."""
        d = self.W.shape[0]
        m = torch.eye(d, dtype=self.W.dtype) - self.W @ self.A  # x - W z - b = M x - W e - b, e ~ N(0, V)
        sq = torch.trace(m @ self.cov_x @ m.T) + torch.trace(self.W @ torch.diag(self.logvar.exp()) @ self.W.T) + self.b.pow(2).sum()
        return (0.5 * d * (LOG_2PI + math.log(self.variance)) + sq / (2 * self.variance)).item()

    def _posterior_of_x(self) -> tuple[Tensor, Tensor]:
        """q(x|z) = N(K z, C) under the encoder's joint: the gain K (D, J) and the covariance C (D, D)."""
        cross = self.cov_x @ self.A.T  # Cov(x, z)
        gain = torch.linalg.solve(self._cov_z(), cross.T).T  # Cov(x, z) Cov(z)^-1
        return gain, self.cov_x - gain @ cross.T

    def conditional_entropy(self) -> float:
        """``H_q(x|z) = 1/2 log det(2 pi e C)``, from q(x|z) itself rather than from H - I."""
        _, cov = self._posterior_of_x()
        return 0.5 * (cov.shape[0] * (LOG_2PI + 1.0) + torch.logdet(cov)).item()

    def decoder_mismatch(self) -> float:
        """``E_{q(z)} KL(q(x|z) || N(W z + b, s^2 I))``, the second term of eq. distortion-conditional-entropy."""
        gain, cov = self._posterior_of_x()
        d, miss = cov.shape[0], gain - self.W  # the means differ by (K - W) z - b, z ~ N(0, cov_z)
        sq = torch.trace(miss @ self._cov_z() @ miss.T) + self.b.pow(2).sum()
        return 0.5 * ((torch.trace(cov) + sq) / self.variance - d + d * math.log(self.variance) - torch.logdet(cov)).item()

    def data_entropy(self) -> float:
        """``H = 1/2 log det(2 pi e cov_x)``."""
        d = self.cov_x.shape[0]
        return 0.5 * (d * (LOG_2PI + 1.0) + torch.logdet(self.cov_x)).item()

    @staticmethod
    def random(data_dim: int = 5, latent_dim: int = 3, generator: torch.Generator | None = None) -> GaussianChannel:
        """A random channel (float64) with a random positive-definite data covariance."""
        data_dim, latent_dim = check_positive_int("data_dim", data_dim), check_positive_int("latent_dim", latent_dim)
        g = generator or torch.Generator().manual_seed(0)
        r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
        half = r(data_dim, data_dim)
        return GaussianChannel(half @ half.T / data_dim + 0.1 * torch.eye(data_dim, dtype=torch.float64),
                               0.5 * r(latent_dim, data_dim), 0.5 * r(latent_dim) - 1.0, 0.5 * r(data_dim, latent_dim),
                               0.1 * r(data_dim), 0.3)


