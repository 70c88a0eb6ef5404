"""An exactly solvable latent-variable model: the linear-Gaussian model (chapter 4).

``p(z) = N(0, I_J)`` and ``p(x | z) = N(x; W z + b, s^2 I_D)`` (probabilistic PCA). Its
evidence ``p(x)`` and its posterior ``p(z | x)`` are Gaussian in closed form, so every
line of the Bayes rewrite of ``KL(q || p(z|x))`` can be computed exactly and compared
with quadrature and Monte Carlo (see :mod:`vae_lib.chapters.bayes_rewrite`).

A variational distribution here is any Gaussian ``q(z) = N(mean, cov)`` given by a mean
(..., J) and a full covariance (..., J, J), so that the exact posterior belongs to the
family; the book's diagonal encoder family is ``cov = diag_cov(logvar)``.

Introduced in chapter 4 (the Bayes-rule rewrite), and used again in chapter 6.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._checks import check_generator, check_int, check_positive_int, check_positive_number, check_tensor
from ..objectives import LOG_2PI

# --- Gaussians with a full covariance ----------------------------------------------------


def diag_cov(logvar: Tensor) -> Tensor:
    """The covariance ``diag(exp(logvar))`` of a diagonal Gaussian: (..., J) -> (..., J, J)."""
    check_tensor("logvar", logvar)
    if logvar.dim() < 1:
        raise ValueError("logvar must have shape (..., J) with a latent dimension J")
    return torch.diag_embed(logvar.exp())


def _cholesky(mean_name: str, mean: Tensor, cov_name: str, cov: Tensor) -> Tensor:
    """Check a (mean, cov) pair and return the Cholesky factor of cov (lower triangular)."""
    check_tensor(mean_name, mean)
    check_tensor(cov_name, cov)
    if mean.dim() < 1:
        raise ValueError(f"{mean_name} must have shape (..., J) with a latent dimension J")
    j = mean.shape[-1]
    if cov.dim() < 2 or cov.shape[-2:] != (j, j):
        raise ValueError(f"{cov_name} must have shape (..., {j}, {j}) to match {mean_name}, got {tuple(cov.shape)}")
    if cov.dtype != mean.dtype or cov.device != mean.device:
        raise TypeError(f"{cov_name} and {mean_name} must share dtype and device")
    if not torch.allclose(cov, cov.transpose(-1, -2), rtol=1e-6, atol=1e-9):
        raise ValueError(f"{cov_name} must be symmetric")
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise ValueError(f"{cov_name} must be positive definite")
    return chol


def _half_logdet(chol: Tensor) -> Tensor:
    return torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)


def _solve_lower(chol: Tensor, v: Tensor) -> Tensor:
    """L^{-1} v for vectors v (..., J)."""
    return torch.linalg.solve_triangular(chol, v.unsqueeze(-1), upper=False).squeeze(-1)


def gaussian_log_density(z: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    """``log N(z; mean, cov)``; z: (..., J), mean: (..., J), cov: (..., J, J), broadcast -> (...)."""
    chol = _cholesky("mean", mean, "cov", cov)
    check_tensor("z", z)
    if z.shape[-1] != mean.shape[-1]:
        raise ValueError(f"z must have shape (..., {mean.shape[-1]}), got {tuple(z.shape)}")
    y = _solve_lower(chol, z - mean)
    # eq. multivariate-gaussian-density: -J/2 log 2pi - 1/2 log det S - 1/2 (z-m)^T S^{-1} (z-m)
    return -0.5 * (mean.shape[-1] * LOG_2PI + y.pow(2).sum(-1)) - _half_logdet(chol)


def gaussian_negative_entropy(mean: Tensor, cov: Tensor) -> Tensor:
    """``int q log q dz`` for q = N(mean, cov): (..., J), (..., J, J) -> (...)."""
    chol = _cholesky("mean", mean, "cov", cov)
    j = mean.shape[-1]
    # eq. full-gaussian-negative-entropy: -J/2 log 2pi - 1/2 log det S - J/2
    return -0.5 * j * (LOG_2PI + 1.0) - _half_logdet(chol)


def standard_normal_cross_term(mean: Tensor, cov: Tensor) -> Tensor:
    """``int q log N(z; 0, I) dz`` for q = N(mean, cov): (..., J), (..., J, J) -> (...)."""
    _cholesky("mean", mean, "cov", cov)
    j = mean.shape[-1]
    # eq. full-gaussian-prior-term: -J/2 log 2pi - 1/2 (|m|^2 + tr S)
    return -0.5 * (j * LOG_2PI + mean.pow(2).sum(-1) + torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1))


def gaussian_kl(mean_q: Tensor, cov_q: Tensor, mean_p: Tensor, cov_p: Tensor) -> Tensor:
    """``KL(N(mean_q, cov_q) || N(mean_p, cov_p))`` with full covariances; broadcast -> (...)."""
    chol_q = _cholesky("mean_q", mean_q, "cov_q", cov_q)
    chol_p = _cholesky("mean_p", mean_p, "cov_p", cov_p)
    if mean_q.shape[-1] != mean_p.shape[-1]:
        raise ValueError("mean_q and mean_p must have the same latent dimension J")
    j = mean_q.shape[-1]
    chol_p_b = chol_p.expand(torch.broadcast_shapes(chol_p.shape, chol_q.shape))
    a = torch.linalg.solve_triangular(chol_p_b, chol_q.expand_as(chol_p_b), upper=False)  # L_p^{-1} L_q
    maha = _solve_lower(chol_p, mean_p - mean_q).pow(2).sum(-1)
    # eq. full-gaussian-kl: 1/2 [tr(P^{-1} S) + (m_p - m)^T P^{-1} (m_p - m) - J + log det P - log det S]
    return 0.5 * (a.pow(2).sum((-2, -1)) + maha - j) + _half_logdet(chol_p) - _half_logdet(chol_q)


def grid_rule(center: Tensor, scale: Tensor, n_points: int = 201, width: float = 10.0) -> tuple[Tensor, Tensor]:
    """Trapezoidal rule on a box ``center +- width * scale`` in J <= 3 dimensions.

    center, scale: (J,). Returns nodes (n_points**J, J) and weights (n_points**J,) with
    ``sum_i weights_i g(nodes_i) ~ int g(z) dz`` for a g that is negligible outside the box.
    """
    check_tensor("center", center)
    check_tensor("scale", scale)
    if center.dim() != 1 or scale.shape != center.shape:
        raise ValueError(f"center and scale must both have shape (J,), got {tuple(center.shape)}, {tuple(scale.shape)}")
    if center.shape[0] > 3:
        raise ValueError(f"a grid only suits J <= 3 latent dimensions, got J = {center.shape[0]}")
    if bool((scale <= 0).any()):
        raise ValueError("scale must be positive")
    check_int("n_points", n_points, low=3)  # the trapezoidal rule needs 3 points
    width = check_positive_number("width", width)
    axes, cell = [], []
    for c, s in zip(center.tolist(), scale.tolist()):
        t = torch.linspace(c - width * s, c + width * s, n_points, dtype=center.dtype, device=center.device)
        w = torch.full_like(t, float(t[1] - t[0]))
        w[0] = w[-1] = w[0] / 2  # trapezoid end points
        axes.append(t)
        cell.append(w)
    nodes = torch.cartesian_prod(*axes).reshape(-1, len(axes))
    weights = torch.cartesian_prod(*cell).reshape(-1, len(cell)).prod(-1)
    return nodes, weights


# --- The model --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearGaussian:
    """``p(z) = N(0, I_J)``, ``p(x|z) = N(W z + b, s^2 I_D)``: weight W (D, J), bias b (D,), s^2 > 0."""

    weight: Tensor
    bias: Tensor
    variance: float

    def __post_init__(self) -> None:
        check_tensor("weight", self.weight)
        check_tensor("bias", self.bias)
        if self.weight.dim() != 2:
            raise ValueError(f"weight must have shape (D, J), got {tuple(self.weight.shape)}")
        if self.bias.shape != self.weight.shape[:1]:
            raise ValueError(f"bias must have shape ({self.weight.shape[0]},) to match weight, "
                             f"got {tuple(self.bias.shape)}")
        if self.bias.dtype != self.weight.dtype or self.bias.device != self.weight.device:
            raise TypeError("weight and bias must share dtype and device")
        object.__setattr__(self, "variance", check_positive_number("variance", self.variance))

    @classmethod
    def random(cls, latent_dim: int, data_dim: int, variance: float, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> LinearGaussian:
        """A model with W and b drawn from N(0, 1), entry by entry."""
        for name, v in (("latent_dim", latent_dim), ("data_dim", data_dim)):
            check_positive_int(name, v)
        w = torch.randn(data_dim, latent_dim, generator=generator, dtype=dtype, device=device)
        b = torch.randn(data_dim, generator=generator, dtype=dtype, device=device)
        return cls(w, b, variance)

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def data_dim(self) -> int:
        return self.weight.shape[0]

    def _check(self, name: str, t: Tensor, size: int) -> Tensor:
        check_tensor(name, t)
        if t.dim() < 1 or t.shape[-1] != size:
            raise ValueError(f"{name} must have shape (..., {size}), got {tuple(t.shape)}")
        if t.dtype != self.weight.dtype or t.device != self.weight.device:
            raise TypeError(f"{name} must have the model's dtype {self.weight.dtype} and device {self.weight.device}")
        return t

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """n draws from the joint: (z (n, J), x (n, D))."""
        check_positive_int("n", n)
        check_generator("generator", generator, self.weight.device)
        kw: dict[str, Any] = dict(generator=generator, dtype=self.weight.dtype, device=self.weight.device)
        z = torch.randn(n, self.latent_dim, **kw)
        x = z @ self.weight.T + self.bias + math.sqrt(self.variance) * torch.randn(n, self.data_dim, **kw)
        return z, x

    def log_prior(self, z: Tensor) -> Tensor:
        """``log N(z; 0, I)``: (..., J) -> (...)."""
        z = self._check("z", z, self.latent_dim)
        # eq. linear-gaussian-model (prior)
        return -0.5 * (self.latent_dim * LOG_2PI + z.pow(2).sum(-1))

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """``log N(x; W z + b, s^2 I)``: x (..., D), z (..., J), broadcast -> (...)."""
        x = self._check("x", x, self.data_dim)
        z = self._check("z", z, self.latent_dim)
        r = x - (z @ self.weight.T + self.bias)
        # eq. linear-gaussian-model (likelihood)
        return (-0.5 * self.data_dim * (LOG_2PI + math.log(self.variance))
                - r.pow(2).sum(-1) / (2 * self.variance))

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x|z) + log p(z)``: broadcast -> (...)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def evidence_covariance(self) -> Tensor:
        """``C = W W^T + s^2 I``, the covariance of p(x): (D, D)."""
        eye = torch.eye(self.data_dim, dtype=self.weight.dtype, device=self.weight.device)
        # eq. linear-gaussian-evidence
        return self.weight @ self.weight.T + self.variance * eye

    def log_evidence(self, x: Tensor) -> Tensor:
        """``log p(x) = log N(x; b, W W^T + s^2 I)``: (..., D) -> (...)."""
        x = self._check("x", x, self.data_dim)
        # eq. linear-gaussian-evidence
        return gaussian_log_density(x, self.bias, self.evidence_covariance())

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The exact posterior N(m, Sigma): mean (..., J) and covariance (J, J) (the same for every x)."""
        x = self._check("x", x, self.data_dim)
        eye = torch.eye(self.latent_dim, dtype=x.dtype, device=x.device)
        precision = eye + self.weight.T @ self.weight / self.variance  # eq. linear-gaussian-posterior
        cov = torch.cholesky_inverse(torch.linalg.cholesky(precision))
        cov = 0.5 * (cov + cov.T)  # symmetric to the last bit
        mean = (x - self.bias) @ self.weight @ cov / self.variance  # eq. linear-gaussian-posterior
        return mean, cov

    def log_posterior(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(z|x)`` from the closed-form posterior: broadcast -> (...)."""
        mean, cov = self.posterior(x)
        return gaussian_log_density(self._check("z", z, self.latent_dim), mean, cov)

    def expected_log_likelihood(self, x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
        """``E_q[log p(x|z)]`` for q = N(mean, cov): x (..., D), mean (..., J), cov (..., J, J) -> (...)."""
        x = self._check("x", x, self.data_dim)
        _cholesky("mean", self._check("mean", mean, self.latent_dim), "cov", cov)
        r = x - (mean @ self.weight.T + self.bias)
        trace = torch.einsum("dj,...jk,dk->...", self.weight, cov, self.weight)  # tr(W S W^T)
        # eq. linear-gaussian-expected-log-likelihood
        return (-0.5 * self.data_dim * (LOG_2PI + math.log(self.variance))
                - (r.pow(2).sum(-1) + trace) / (2 * self.variance))

    def expected_log_likelihood_gradient(self, x: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
        """Exact gradient of ``E_q[log p(x|z)]`` for a diagonal q = N(mu, diag exp(logvar)).

        x: (D,), mu, logvar: (J,). Returns (d/dmu, d/dlogvar), each (J,).
        """
        x = self._check("x", x, self.data_dim)
        self._check("mu", mu, self.latent_dim)
        self._check("logvar", logvar, self.latent_dim)
        r = x - (mu @ self.weight.T + self.bias)
        # eq. linear-gaussian-exact-gradient
        d_logvar = -logvar.exp() * self.weight.pow(2).sum(0) / (2 * self.variance)
        return r @ self.weight / self.variance, d_logvar

    def elbo(self, x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
        """``E_q[log p(x|z)] - KL(q || p(z))`` for q = N(mean, cov): -> (...)."""
        zero, eye = torch.zeros_like(mean), torch.eye(self.latent_dim, dtype=mean.dtype, device=mean.device)
        # eq. elbo-definition
        return self.expected_log_likelihood(x, mean, cov) - gaussian_kl(mean, cov, zero, eye)

    def kl_to_posterior(self, x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
        """``KL(q || p(z|x))`` for q = N(mean, cov), from the closed-form posterior: -> (...)."""
        post_mean, post_cov = self.posterior(x)
        # eq. kl-posterior
        return gaussian_kl(mean, cov, post_mean, post_cov)

    def mean_field_optimum(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The diagonal q closest to p(z|x) in KL(q || p(z|x)): (mu (..., J), logvar (J,))."""
        x = self._check("x", x, self.data_dim)
        mean, _ = self.posterior(x)
        precision_diag = 1.0 + self.weight.pow(2).sum(0) / self.variance  # diagonal of I + W^T W / s^2
        # eq. mean-field-optimum: mu = m, sigma_j^2 = 1 / Lambda_jj
        return mean, -torch.log(precision_diag)

    def cavi(self, x: Tensor, mu0: Tensor, sweeps: int) -> Tensor:
        """Coordinate-ascent mean-field updates of q's means from ``mu0`` (J,); x (D,). Returns (sweeps + 1, J).

        Each update sets q_j to eq. mean-field-gaussian-update given the other units' current means;
        its variance is always 1 / Lambda_jj, so only the means move.
        """
        x = self._check("x", x, self.data_dim)
        if x.dim() != 1:
            raise ValueError(f"x must have shape ({self.data_dim},) (one observation), got {tuple(x.shape)}")
        mu = self._check("mu0", mu0, self.latent_dim).clone()
        check_positive_int("sweeps", sweeps)
        mean, _ = self.posterior(x)
        eye = torch.eye(self.latent_dim, dtype=x.dtype, device=x.device)
        precision = eye + self.weight.T @ self.weight / self.variance
        path = [mu.clone()]
        for _ in range(sweeps):
            for j in range(self.latent_dim):
                others = (precision[j] * (mu - mean)).sum() - precision[j, j] * (mu[j] - mean[j])
                mu[j] = mean[j] - others / precision[j, j]  # eq. mean-field-gaussian-update
            path.append(mu.clone())
        return torch.stack(path)


__all__ = [
    "LinearGaussian",
    "diag_cov",
    "gaussian_kl",
    "gaussian_log_density",
    "gaussian_negative_entropy",
    "grid_rule",
    "standard_normal_cross_term",
]
