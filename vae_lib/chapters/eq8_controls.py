"""The controlled Eq. (8) experiment: does the likelihood or the weight cause the collapse?

The ELBO model and the source's Eq. (8) model differ in two ways at once: the
likelihood (Bernoulli against Gaussian) and the weight between the two terms.
Three more losses complete a two-by-two design, likelihood by weight:

* ``gaussian``: a Gaussian decoder with a sensible variance ``s0^2``, its squared
  error *summed* over pixels (the negative ELBO, eq. negative-elbo-gaussian);
* ``eq8_reweighted``: Eq. (8) itself, its KL term times ``2 s0^2 / D``: by
  eq. hidden-beta, ``2 s0^2 / D`` times the ``gaussian`` loss plus a constant, so
  the same cell of the design reached from the other side;
* ``bernoulli_mean``: the Bernoulli cross-entropy *averaged* over pixels plus the
  summed KL, Eq. (8)'s weighting with the Bernoulli likelihood: a β-VAE with β = D.

All four train the reference VAE (``ModelConfig()``, ``training.REFERENCE``) from
the same initial weights. Each is scored under its *own* likelihood, normalised
(the Bernoulli model under the continuous Bernoulli), so every held-out bound is
a bound on a true log-density of the same grey-level images.

``python scripts/eq8_controls.py`` runs the seeds the chapter quotes and writes
``vae_lib/_data/eq8_controls.json``. Introduced in chapter 6.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import Tensor

from .._checks import check_positive_number, check_tensor
from ..evaluation import heldout_elbo
from ..models import VAE, ModelConfig
from ..objectives import ElboTerms, negative_elbo, source_eq8_equivalent_variance
from ..runtime import seed_everything
from ..training import REFERENCE, History, Objective, fit, source_eq8_objective, vae_objective
from . import diagnostics as dg

S0 = 0.1  # the control decoder's noise: a tenth of the grey-level range
COMMITTED = Path(__file__).resolve().parents[1] / "_data" / "eq8_controls.json"


@dataclass(frozen=True)
class Variant:
    """One trained loss and the likelihood it implies (its own yardstick)."""

    label: str
    objective: Objective
    likelihood: str  # as vae_lib.objectives.log_likelihood names it
    variance: float  # s^2 of a Gaussian decoder (unused otherwise)


def pixel_mean_bernoulli_objective() -> Objective:
    """The Bernoulli cross-entropy averaged over pixels plus the summed KL: Eq. (8)'s weights, Bernoulli terms."""

    def terms(model, x: Tensor) -> ElboTerms:
        logits, mu, logvar = model(x)
        summed = negative_elbo(x, logits, mu, logvar, likelihood="bernoulli")
        reconstruction = summed.reconstruction / x.shape[1]  # eq. source-eq8's mean over the D pixels
        return ElboTerms(reconstruction + summed.kl, reconstruction, summed.kl)

    return Objective("Bernoulli cross-entropy, mean over pixels, + KL", terms, unit_interval=True)


def variants(D: int, s0: float = S0) -> dict[str, Variant]:
    """The five losses, by name: ``elbo``, ``gaussian``, ``eq8``, ``eq8_reweighted``, ``bernoulli_mean``."""
    s0 = check_positive_number("s0", s0)
    eq8_variance = source_eq8_equivalent_variance(D)
    weight = 2 * s0**2 / D  # eq. hidden-beta: the factor that turns Eq. (8) into a Gaussian ELBO
    return {
        "elbo": Variant("negative ELBO, Bernoulli", vae_objective("bernoulli"), "continuous_bernoulli", 1.0),
        "gaussian": Variant(f"negative ELBO, Gaussian, summed, s² = {s0**2:g}",
                            vae_objective("gaussian", variance=s0**2), "gaussian", s0**2),
        "eq8": Variant("source Eq. (8)", source_eq8_objective(), "gaussian", eq8_variance),
        "eq8_reweighted": Variant("Eq. (8), KL × 2s₀²/D", source_eq8_objective(beta=weight), "gaussian", s0**2),
        "bernoulli_mean": Variant("Bernoulli, mean over pixels", pixel_mean_bernoulli_objective(),
                                  "continuous_bernoulli", 1.0),
    }


def train(variant: Variant, x_train: Tensor, seed: int, device: torch.device | str = "cpu") -> tuple[VAE, History]:
    """The reference VAE trained on ``variant``'s loss; ``seed`` fixes the initial weights and the data order."""
    seed_everything(seed)
    model = VAE(ModelConfig()).to(device)
    history = fit(model, variant.objective, x_train, epochs=REFERENCE.epochs, batch_size=REFERENCE.batch_size,
                  lr=REFERENCE.lr, seed=seed)
    return model, history


def load_committed(path: Path = COMMITTED) -> dict:
    """The seeds that ``scripts/eq8_controls.py`` ran, as it wrote them (see that script for the command)."""
    try:
        record = json.loads(Path(path).read_text())
        if not isinstance(record["results"], dict):
            raise TypeError("its 'results' is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a results file of scripts/eq8_controls.py ({e}); run that script") from e
    return record


@torch.no_grad()
def measure(model: VAE, variant: Variant, x_heldout: Tensor, seed: int = 0) -> dict[str, float]:
    """Active units, KL, held-out ELBO under the variant's own likelihood, and reconstruction error.

    ``recon_mse`` is the per-pixel squared error of reconstructions decoded from
    one code ``z ~ q(z|x)``: one yardstick for all five models.
    """
    check_tensor("x_heldout", x_heldout)
    mu, _ = dg.encode_moments(model, x_heldout)
    own = heldout_elbo(model, x_heldout, seed=seed, likelihood=variant.likelihood, variance=variant.variance)
    recon = dg.reconstruct(model, x_heldout, sample=True,
                           generator=torch.Generator(device=model.device).manual_seed(seed))
    return {
        "active_units": dg.active_units(mu),
        "kl": cast(float, own.kl),  # heldout_elbo's terms are floats
        "heldout_elbo": cast(float, own.elbo),
        "recon_mse": (recon - x_heldout.to(recon.device)).pow(2).mean().item(),
    }
