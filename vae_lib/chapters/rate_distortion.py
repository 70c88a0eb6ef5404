"""Choosing the weight: the rate-distortion plane, two remedies for collapse, a learnt decoder variance.

* **The plane** (Alemi et al. 2018). The rate is the KL term, the distortion the reconstruction
  term, both averaged over held-out images; every model is scored on one yardstick, the Gaussian
  decoder of variance ``S0**2`` of chapter 6 (:func:`measure`). :func:`beta_from_variance` turns
  any Gaussian decoder's variance into the beta it carries on that plane (Eq. (8): ``D / (2 S0^2)``).
  :class:`vae_lib.chapters.gaussian_channel.GaussianChannel` is a linear-Gaussian encoder and decoder on
  Gaussian data whose every term is a closed form, to check the bounds on.
* **Remedies for collapse**, applied to the source's Eq. (8): KL annealing (Bowman et al. 2016,
  :func:`kl_anneal_weight`, :func:`train_annealed`) and free bits (Kingma et al. 2016,
  :func:`free_bits_kl`, :func:`free_bits_eq8_objective`).
* **A learnt decoder variance** (Rybkin et al. 2021): :class:`SigmaVAE` has one shared ``log s^2``,
  trained with the rest (:func:`sigma_vae_objective`); :func:`optimal_variance` is its closed-form
  optimum, the mean squared error, and :func:`profiled_gaussian_nll` the loss at that optimum.

``python scripts/rate_distortion.py`` trains every model the chapter quotes with these functions;
:mod:`vae_lib.chapters.beta_sweep` reads what it wrote. Introduced in chapter 8.
"""
from __future__ import annotations

import math
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import (
    check_instance,
    check_nonnegative_int,
    check_nonnegative_number,
    check_positive_int,
    check_positive_number,
    check_same,
    check_tensor,
)
from ..divergences import kl_diag_gaussian_to_standard_normal, kl_units
from ..evaluation import heldout_elbo
from ..models import VAE, ModelConfig
from ..objectives import LOG_2PI, ElboTerms, log_likelihood, source_eq8_loss
from ..runtime import seed_everything
from ..training import REFERENCE, History, Objective, Schedule, fit, source_eq8_objective, vae_objective
from . import diagnostics as dg
from .eq8_controls import S0

FREE_BITS = 0.5  # kappa_min: nats per latent unit that the free-bits loss does not charge for
WARMUP_EPOCHS = 10  # KL annealing: the KL weight ramps from 0 to 1 over these epochs, then stays at 1
SIGMA_LR = 3e-2  # Adam's learning rate for log s^2 (the network keeps REFERENCE.lr); see train_sigma_vae


def beta_from_variance(variance: float, reference_variance: float) -> float:
    """The KL weight that a Gaussian decoder of variance ``s^2`` carries on the plane of variance ``s0^2``: ``s^2 / s0^2``."""
    variance = check_positive_number("variance", variance)
    reference_variance = check_positive_number("reference_variance", reference_variance)
    return variance / reference_variance  # eq. beta-from-variance


# --- The learnt decoder variance --------------------------------------------------------------


def optimal_variance(x: Tensor, mean: Tensor) -> float:
    """The s^2 that maximises the summed Gaussian log-likelihood of x (N, D) around mean (N, D): their MSE."""
    check_tensor("x", x)
    check_tensor("mean", mean)
    check_same(("x", "mean"), x, mean)
    if x.dim() != 2:
        raise ValueError(f"x must have shape (N, D), got {tuple(x.shape)}")
    return (x - mean).pow(2).mean().item()  # eq. optimal-variance: (1 / ND) sum_n ||x_n - f(z_n)||^2


def profiled_gaussian_nll(x: Tensor, mean: Tensor) -> float:
    """``-log N(x; mean, s*^2 I)`` per image at the optimal ``s*^2``: ``D/2 log(2 pi e s*^2)``."""
    s2 = optimal_variance(x, mean)
    if s2 <= 0:
        raise ValueError("mean equals x exactly: the optimal variance is 0 and the likelihood unbounded")
    return 0.5 * x.shape[1] * (LOG_2PI + 1.0 + math.log(s2))  # eq. profiled-loss, reconstruction part


class SigmaVAE(VAE):
    """The reference VAE with a Gaussian decoder whose one shared variance ``s^2 = exp(log_variance)`` is learnt."""

    def __init__(self, config: ModelConfig = ModelConfig(), variance: float = 1.0) -> None:
        super().__init__(config)
        self.log_variance = nn.Parameter(torch.tensor(math.log(check_positive_number("variance", variance))))

    @property
    def variance(self) -> float:
        """The decoder's current s^2, a float."""
        return self.log_variance.exp().item()


def sigma_vae_objective() -> Objective:
    """The negative ELBO of :class:`SigmaVAE`, its decoder variance a parameter (eq. sigma-vae-loss)."""

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        check_instance("model", model, SigmaVAE, "a SigmaVAE")
        model = cast(SigmaVAE, model)
        logits, mu, logvar = model(x)
        sse = (x - torch.sigmoid(logits)).pow(2).sum(-1)
        # eq. sigma-vae-loss: D/2 log(2 pi s^2) + ||x - f(z)||^2 / (2 s^2), per image
        rec = 0.5 * x.shape[-1] * (LOG_2PI + model.log_variance) + sse / (2 * model.log_variance.exp())
        kl = kl_units(mu, logvar).sum(-1)  # eq. kl-closed-form
        return ElboTerms((rec + kl).mean(), rec.mean(), kl.mean())

    return Objective("negative ELBO, Gaussian, learnt s^2", terms)


# --- KL annealing and free bits -----------------------------------------------------------------


def kl_anneal_weight(epoch: int, warmup: int = WARMUP_EPOCHS) -> float:
    """The KL weight of epoch ``epoch`` (0-based): ``min(1, epoch / warmup)``."""
    check_nonnegative_int("epoch", epoch)
    warmup = check_positive_int("warmup", warmup)
    return min(1.0, epoch / warmup)  # eq. kl-annealing


def free_bits_kl(mu: Tensor, logvar: Tensor, floor: float = FREE_BITS) -> Tensor:
    """``sum_j max(floor, mean_b kappa_bj)``: the KL term of the free-bits loss, per unit floored after the batch mean.

    mu, logvar: (B, J); returns a scalar. A unit whose batch-mean KL is below ``floor`` adds the
    constant ``floor`` and gets no gradient from the KL term.
    """
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    check_same(("mu", "logvar"), mu, logvar)
    if mu.dim() != 2:
        raise ValueError(f"mu must have shape (B, J), got {tuple(mu.shape)}")
    check_nonnegative_number("floor", floor)
    per_unit = kl_units(mu, logvar).mean(0)  # kappa_j averaged over the batch
    return torch.clamp(per_unit, min=floor).sum()  # eq. free-bits


def free_bits_eq8_objective(floor: float = FREE_BITS) -> Objective:
    """Source Eq. (8) with its KL term replaced by :func:`free_bits_kl`; ``kl`` reports the true KL."""
    free_bits_kl(torch.zeros(1, 1), torch.zeros(1, 1), floor)  # check floor now, not in the first batch

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        logits, mu, logvar = model(x)
        eq8 = source_eq8_loss(x, torch.sigmoid(logits), mu, logvar)
        return ElboTerms(eq8.reconstruction + free_bits_kl(mu, logvar, floor), eq8.reconstruction, eq8.kl)

    return Objective(f"source Eq. (8), free bits {floor:g}", terms)


def free_bits_beta_objective(beta: float, floor: float = FREE_BITS) -> Objective:
    """The beta-loss of the ``S0`` decoder with its KL term replaced by ``beta *`` :func:`free_bits_kl`."""
    beta = check_positive_number("beta", beta)
    free_bits_kl(torch.zeros(1, 1), torch.zeros(1, 1), floor)  # check floor now, not in the first batch

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        logits, mu, logvar = model(x)
        rec = -log_likelihood(x, logits, "gaussian", S0**2).mean()
        kl = kl_diag_gaussian_to_standard_normal(mu, logvar)  # the true KL, reported
        return ElboTerms(rec + beta * free_bits_kl(mu, logvar, floor), rec, kl)

    return Objective(f"beta-loss (beta = {beta:g}, s0 decoder), free bits {floor:g}", terms)


# --- Training ---------------------------------------------------------------------------------


def _reference_fit(model: VAE, objective: Objective | Schedule, x_train: Tensor, seed: int,
                   epochs: int = REFERENCE.epochs) -> History:
    return fit(model, objective, x_train, epochs=epochs, batch_size=REFERENCE.batch_size, lr=REFERENCE.lr, seed=seed)


def train_beta(beta: float, x_train: Tensor, seed: int, device: torch.device | str = "cpu", *,
               epochs: int = REFERENCE.epochs) -> VAE:
    """The reference VAE trained on ``-L_beta`` with the Gaussian decoder of variance ``S0**2``."""
    seed_everything(seed)
    model = VAE(ModelConfig()).to(device)
    _reference_fit(model, vae_objective("gaussian", beta=beta, variance=S0**2), x_train, seed, epochs)
    return model


def train_eq8(x_train: Tensor, seed: int, device: torch.device | str = "cpu") -> VAE:
    """The reference VAE trained on source Eq. (8), literally (as chapter 6)."""
    seed_everything(seed)
    model = VAE(ModelConfig()).to(device)
    _reference_fit(model, source_eq8_objective(), x_train, seed)
    return model


def train_free_bits(x_train: Tensor, seed: int, floor: float = FREE_BITS, device: torch.device | str = "cpu", *,
                    beta: float | None = None) -> VAE:
    """The reference VAE trained on Eq. (8) with free bits (with ``beta``: the beta-loss of the ``S0`` decoder)."""
    seed_everything(seed)
    model = VAE(ModelConfig()).to(device)
    objective = free_bits_eq8_objective(floor) if beta is None else free_bits_beta_objective(beta, floor)
    _reference_fit(model, objective, x_train, seed)
    return model


def train_annealed(x_train: Tensor, seed: int, warmup: int = WARMUP_EPOCHS,
                   device: torch.device | str = "cpu", *, beta: float | None = None) -> tuple[VAE, list[float]]:
    """Eq. (8) with its KL weight ramped by :func:`kl_anneal_weight`, in one ``fit`` with a :class:`Schedule`.

    With ``beta``, the beta-loss of the ``S0`` decoder instead, its weight ramped to ``beta``.
    Returns the model and the training KL term of each epoch.
    """
    if beta is not None:
        beta = check_positive_number("beta", beta)

    def objective(epoch: int) -> Objective:
        weight = kl_anneal_weight(epoch, warmup)  # eq. kl-annealing
        return (source_eq8_objective(beta=weight) if beta is None
                else vae_objective("gaussian", beta=beta * weight, variance=S0**2))

    seed_everything(seed)
    model = VAE(ModelConfig()).to(device)
    return model, _reference_fit(model, Schedule(objective), x_train, seed)["train/kl"]


def train_sigma_vae(x_train: Tensor, seed: int, device: torch.device | str = "cpu") -> tuple[SigmaVAE, list[float]]:
    """A :class:`SigmaVAE` from ``s^2 = 1``; returns it and ``s^2`` after each epoch.

    Adam moves a parameter by about its learning rate per step, so at ``REFERENCE.lr`` ``log s^2``
    could travel only about one unit in the reference run; it gets its own rate, ``SIGMA_LR``.
    """
    seed_everything(seed)
    model = SigmaVAE(ModelConfig()).to(device)
    network = [p for n, p in model.named_parameters() if n != "log_variance"]
    optimizer = torch.optim.Adam([{"params": network, "lr": REFERENCE.lr},
                                  {"params": [model.log_variance], "lr": SIGMA_LR}])
    variances: list[float] = []
    fit(model, sigma_vae_objective(), x_train, epochs=REFERENCE.epochs, batch_size=REFERENCE.batch_size, seed=seed,
        optimizer=optimizer, on_epoch=lambda epoch, history: variances.append(model.variance))
    return model, variances


# --- Measuring --------------------------------------------------------------------------------


@torch.no_grad()
def measure(model: VAE, x_heldout: Tensor, variance: float, seed: int = 0) -> dict[str, float]:
    """Held-out rate and distortion on the ``S0`` plane, active units, own-likelihood ELBO and per-pixel MSE.

    ``variance`` is the Gaussian decoder variance the model was trained with (``D/2`` for Eq. (8)).
    """
    check_tensor("x_heldout", x_heldout)
    variance = check_positive_number("variance", variance)
    x = x_heldout.to(model.device)
    plane = heldout_elbo(model, x, seed=seed, likelihood="gaussian", variance=S0**2)
    own = heldout_elbo(model, x, seed=seed, likelihood="gaussian", variance=variance)
    mu, _ = dg.encode_moments(model, x)
    recon = dg.reconstruct(model, x, sample=True, generator=torch.Generator(device=model.device).manual_seed(seed))
    # heldout_elbo's terms are floats
    return {"rate": cast(float, plane.kl), "distortion": cast(float, plane.reconstruction),
            "active_units": dg.active_units(mu), "own_elbo": cast(float, own.elbo),
            "mse": (recon - x).pow(2).mean().item()}


def zero_rate_distortion(x: Tensor, variance: float = S0**2) -> float:
    """The least distortion of any model with zero rate: the Gaussian NLL of the data around their own mean."""
    check_tensor("x", x)
    variance = check_positive_number("variance", variance)
    if x.dim() != 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (N, D), got {tuple(x.shape)}")
    x = x.double()
    sse = (x - x.mean(0)).pow(2).sum(-1).mean().item()
    # eq. zero-rate-distortion: D/2 log(2 pi s0^2) + E ||x - xbar||^2 / (2 s0^2)
    return 0.5 * x.shape[1] * (LOG_2PI + math.log(variance)) + sse / (2 * variance)


@torch.no_grad()
def explorer_images(model: VAE, originals: Tensor, z_prior: Tensor, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) reconstructions of ``originals`` (one z ~ q each) and decodings of ``z_prior``."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    recon = dg.reconstruct(model, originals.to(model.device), sample=True, generator=g)
    samples = torch.sigmoid(model.decode(z_prior.to(model.device)))
    return to_uint8(recon), to_uint8(samples)


def to_uint8(images: Tensor) -> np.ndarray:
    """(n, 784) pixel means in [0, 1] -> (n, 28, 28) uint8 grey levels."""
    check_tensor("images", images)
    if images.dim() != 2 or images.shape[1] != 784:
        raise ValueError(f"images must have shape (n, 784), got {tuple(images.shape)}")
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).reshape(-1, 28, 28).cpu().numpy()
