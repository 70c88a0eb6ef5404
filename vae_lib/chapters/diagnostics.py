"""Diagnostics for the final loss (chapter 6): posterior collapse and the weight hidden in Eq. (8).

Three groups of tools:

* **What a trained encoder uses.** :func:`encode_moments` encodes a whole data set;
  :func:`unit_activity` and :func:`active_units` implement the activity statistic of
  Burda et al. (2016), ``A_u = Var_x(E_q[z_u])``, and :func:`kl_per_unit` splits the
  closed-form KL into its J terms.
* **What source Eq. (8) is.** :func:`mse_as_gaussian_nll` turns a per-pixel mean squared
  error into the Gaussian negative log-likelihood it stands for; :func:`source_eq8_offset`
  is the constant between Eq. (8) and the negative ELBO of a Gaussian decoder with
  variance ``D/2``; :func:`hidden_beta` is the KL weight Eq. (8) carries relative to a
  decoder of a chosen variance.
* **Why that weight switches the code off.** For a linear decoder (probabilistic PCA)
  a latent direction along a data eigenvector with eigenvalue ``lambda`` is worth
  using only when ``lambda > s^2``: :func:`data_spectrum`, :func:`ppca_gain`,
  :func:`ppca_optimal_scale`, :func:`retained_directions`.

Gaussians are parameterised as everywhere in the book, by ``(mu, logvar)``.

Introduced in chapter 6 (the final loss).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import (
    check_bool,
    check_instance,
    check_int,
    check_nonnegative_number,
    check_positive_int,
    check_positive_number,
    check_range,
    check_same,
    check_tensor,
)
from ..book.live import LiveExplorer, Slider, decade_ticks
from ..divergences import kl_units
from ..models import VAE, reparameterize
from ..objectives import LOG_2PI

ACTIVITY_THRESHOLD = 0.01  # Burda et al. (2016): a unit is active when A_u > 10^-2


def _check_codes(name: str, t: object, min_rows: int = 2) -> Tensor:
    t = check_tensor(name, t)
    if t.dim() != 2 or t.shape[0] < min_rows:
        raise ValueError(f"{name} must have shape (N, J) with N >= {min_rows} examples, got {tuple(t.shape)}")
    return t


# --- What a trained encoder uses -------------------------------------------------------


@torch.no_grad()
def encode_moments(model: VAE, x: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """Encoder outputs for a whole data set, in batches: x (N, D) -> (mu (N, J), logvar (N, J))."""
    check_instance("model", model, VAE, "a vae_lib.VAE")
    check_tensor("x", x)
    check_positive_int("batch_size", batch_size)
    x = x.to(model.device)
    parts = [model.encode(x[s : s + batch_size]) for s in range(0, x.shape[0], batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def reconstruct(model: VAE, x: Tensor, sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
    """Pixel means ``sigmoid(f(z))`` of reconstructions: x (N, D) -> (N, D).

    ``z = mu(x)`` by default; with ``sample=True``, one ``z ~ q(z|x)`` per image (what the
    loss sees in training). The two differ for a collapsed model: its ``mu(x)`` is ~0 for
    every x, a point that a J-dimensional N(0, I) code almost never visits (its length
    concentrates near sqrt(J)), so the decoder was never trained there.
    """
    check_bool("sample", sample)
    mu, logvar = encode_moments(model, x)
    z = reparameterize(mu, logvar, generator) if sample else mu
    return torch.sigmoid(model.decode(z))


def unit_activity(mu: Tensor) -> Tensor:
    """``A_u = Var_x(E_q[z_u | x])``, the spread of each unit's posterior mean over the data.

    mu: (N, J) encoder means of N examples -> (J,), the unbiased sample variance.
    """
    _check_codes("mu", mu)
    # eq. active-units: Cov_x(E_q[z_u]) for each unit u
    return mu.var(dim=0, correction=1)


def active_units(mu: Tensor, threshold: float = ACTIVITY_THRESHOLD) -> int:
    """How many of the J units have ``A_u > threshold`` (default 0.01, Burda et al. 2016)."""
    threshold = check_positive_number("threshold", threshold)
    return int((unit_activity(mu) > threshold).sum())


def kl_per_unit(mu: Tensor, logvar: Tensor) -> Tensor:
    """Average over the data of each unit's term of the closed-form KL: (N, J), (N, J) -> (J,).

    The J values sum to the mean of ``kl_diag_gaussian_to_standard_normal`` (nats per image).
    """
    _check_codes("mu", mu, min_rows=1)
    check_tensor("logvar", logvar)
    check_same(("mu", "logvar"), mu, logvar)
    return kl_units(mu, logvar).mean(0)  # eq. kl-closed-form, one term of the sum over j, mean over examples


# --- What source Eq. (8) is -----------------------------------------------------------------


def mse_as_gaussian_nll(mse: Tensor, D: int, variance: float) -> Tensor:
    """``-log N(x; y, s^2 I)`` from the per-pixel mean squared error of x and y (any shape).

    ``D`` is the number of pixels the mean ran over and ``variance`` is s^2.
    """
    check_tensor("mse", mse)
    if bool((mse < 0).any()):
        raise ValueError("mse must be non-negative: it is a mean of squares")
    D = check_positive_int("D", D)
    s2 = check_positive_number("variance", variance)
    # eq. mse-gaussian-nll: D / (2 s^2) * MSE + D/2 log(2 pi s^2)
    return D / (2 * s2) * mse + 0.5 * D * (LOG_2PI + math.log(s2))


def source_eq8_offset(D: int) -> float:
    """The constant ``(D/2) log(pi D)`` by which the Gaussian negative ELBO with ``s^2 = D/2``
    exceeds source Eq. (8), in nats per image."""
    D = check_positive_int("D", D)
    # eq. source-eq8-as-elbo: D/2 log(2 pi s^2) with s^2 = D/2
    return 0.5 * D * math.log(math.pi * D)


def hidden_beta(D: int, reference_variance: float = 1.0) -> float:
    """The KL weight of Eq. (8) relative to a Gaussian decoder of variance ``s0^2``: ``D / (2 s0^2)``.

    Eq. (8) is ``(2 s0^2 / D)`` times the beta-weighted negative ELBO of that decoder,
    up to an additive constant.
    """
    D = check_positive_int("D", D)
    s02 = check_positive_number("reference_variance", reference_variance)
    # eq. hidden-beta
    return D / (2 * s02)


# --- Why that weight switches the code off: the linear decoder -------------------------------


def data_spectrum(x: Tensor, return_vectors: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Eigenvalues of the data covariance ``S = (1/N) sum (x - mean)(x - mean)^T``, descending.

    x: (N, D) -> (D,), float64 (the maximum-likelihood covariance, as in probabilistic PCA).
    With ``return_vectors=True`` also the unit eigenvectors, as the columns of a (D, D) matrix.
    """
    _check_codes("x", x)
    xc = x.double() - x.double().mean(0)
    cov = xc.T @ xc / x.shape[0]
    values, vectors = torch.linalg.eigh(cov)
    values = values.flip(0).clamp_min(0.0)  # round-off can leave tiny negatives
    return (values, vectors.flip(1)) if return_vectors else values


def ppca_gain(w2: Tensor, eigenvalue: float, variance: float) -> Tensor:
    """Average log-evidence gained by a linear decoder column of squared length ``w2`` along
    a data eigenvector with eigenvalue ``lambda``, relative to no column (nats per example).

    ``w2`` any shape, >= 0; ``variance`` is the decoder's s^2.
    """
    check_tensor("w2", w2)
    if bool((w2 < 0).any()):
        raise ValueError("w2 must be non-negative: it is a squared length")
    try:
        lam = float(eigenvalue)  # a Python or NumPy number, or a one-element tensor
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"eigenvalue must be a number, got {eigenvalue!r}") from None
    check_nonnegative_number("eigenvalue", lam)
    s2 = check_positive_number("variance", variance)
    # eq. ppca-gain: -1/2 log(1 + w^2/s^2) + lambda w^2 / (2 s^2 (s^2 + w^2))
    return -0.5 * torch.log1p(w2 / s2) + lam * w2 / (2 * s2 * (s2 + w2))


def ppca_optimal_scale(eigenvalues: Tensor, variance: float) -> Tensor:
    """The maximising ``w^2 = max(lambda - s^2, 0)`` for each eigenvalue (Tipping and Bishop): (K,) -> (K,)."""
    check_tensor("eigenvalues", eigenvalues)
    s2 = check_positive_number("variance", variance)
    # eq. ppca-optimal-scale
    return (eigenvalues - s2).clamp_min(0.0)


def retained_directions(eigenvalues: Tensor, variance: float) -> int:
    """How many data directions a linear decoder of variance s^2 uses: ``#{lambda > s^2}``."""
    return int((ppca_optimal_scale(eigenvalues, variance) > 0).sum())


def spectrum_explorer(eigenvalues: Tensor, variance_marks: dict[str, float], n_show: int = 300,
                      latent_dim: int = 20, variance_range: tuple[float, float] = (0.01, 1000.0)) -> LiveExplorer:
    """Chapter 6's explorer: the first ``n_show`` eigenvalues (D,) of the data covariance against s^2.

    Eigenvalues above the decoder variance s^2 are the directions a linear decoder encodes
    (eq. ppca-optimal-scale); the title counts them (:func:`retained_directions`, over all D) and
    how many a VAE with ``latent_dim`` (J) units could use. The slider is log-spaced over
    ``variance_range``; ``variance_marks`` names values to mark on it (e.g. ``{"D/2": 392.0}``) besides the decades.
    """
    check_tensor("eigenvalues", eigenvalues)
    if eigenvalues.dim() != 1:
        raise ValueError(f"eigenvalues must have shape (D,), got {tuple(eigenvalues.shape)}")
    check_int("n_show", n_show, low=1, high=len(eigenvalues))
    check_positive_int("latent_dim", latent_dim)
    check_instance("variance_marks", variance_marks, dict, "a dict of label -> s^2")
    lo, hi = check_range("variance_range", variance_range, positive=True)
    if not lo <= 1.0 <= hi:
        raise ValueError(f"variance_range must contain 1 (the slider starts at s^2 = 1), got {tuple(variance_range)}")
    decades = decade_ticks(lo, hi)
    marks = {label: check_positive_number(f"variance_marks[{label!r}]", v) for label, v in variance_marks.items()}
    ticks = sorted([(t, f"{t:g}") for t in decades] + [(v, k) for k, v in marks.items()])
    # 6 significant digits; round-off-sized values (a constant pixel's variance) are 0, the same on every machine
    values = [0.0 if abs(v) < 1e-9 else float(f"{v:.6g}") for v in eigenvalues.double().cpu().tolist()]
    slider = Slider("variance", "s²", lo, hi, 1.0, ticks=tuple(t for t, _ in ticks), log=True,
                    tick_labels=tuple(label for _, label in ticks))
    return LiveExplorer("decoder-variance", "decoder-variance", [slider],
                        {"eigenvalues": values, "n_show": n_show, "latent_dim": latent_dim},
                        description=f"The first {n_show} eigenvalues of the data covariance on a log scale, those "
                                    "above the decoder variance s^2 in blue and the rest grey, with the line s^2; "
                                    "the title counts the directions above it.")


def spectrum_state(data: dict, learned: dict | None, values: dict) -> dict:
    """What :func:`spectrum_explorer`'s page computes at decoder variance ``values["variance"]``."""
    above = retained_directions(torch.tensor(data["eigenvalues"], dtype=torch.float64), values["variance"])
    return {"above": above, "usable": min(above, data["latent_dim"])}


__all__ = ["active_units", "ACTIVITY_THRESHOLD", "data_spectrum", "encode_moments", "hidden_beta", "kl_per_unit", "mse_as_gaussian_nll", "ppca_gain", "ppca_optimal_scale", "reconstruct", "retained_directions", "source_eq8_offset", "spectrum_explorer", "spectrum_state", "unit_activity"]
