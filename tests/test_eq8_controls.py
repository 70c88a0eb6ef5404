"""The controlled Eq. (8) experiment of chapter 6 (vae_lib.chapters.eq8_controls).

* the two Gaussian controls are the same loss up to a positive factor and a constant (eq. hidden-beta),
  checked against torch.distributions on random decoder outputs;
* the Bernoulli loss with Eq. (8)'s weighting is the Bernoulli beta-VAE with beta = D, divided by D;
* each variant's own likelihood is a normalised density (its integral over one pixel is one);
* measure() reports what a collapsed and a working model look like, on models built by hand;
* the committed results file has every seed and variant, and a bad file is refused by name.
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import ContinuousBernoulli, Normal, kl_divergence

from vae_lib import VAE, ModelConfig
from vae_lib.chapters import eq8_controls as ec
from vae_lib.objectives import log_likelihood

D, J = 784, 20


class Fixed(torch.nn.Module):
    """A stand-in model with given decoder logits and posterior moments: (model, x) -> its outputs."""

    def __init__(self, logits, mu, logvar):
        super().__init__()
        self.out = (logits, mu, logvar)

    def forward(self, x):
        return self.out


def outputs(seed, b=8):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, D, generator=g), 2 * torch.randn(b, D, generator=g),
            torch.randn(b, J, generator=g), torch.randn(b, J, generator=g))


def test_the_controls_are_one_loss_up_to_a_factor_and_a_constant():
    found = ec.variants(D)
    s02 = ec.S0**2
    for seed in range(3):
        x, logits, mu, logvar = outputs(seed)
        model = Fixed(logits, mu, logvar)
        gaussian = found["gaussian"].objective(model, x).loss.double()
        reweighted = found["eq8_reweighted"].objective(model, x).loss.double()
        # an independent reference for the Gaussian negative ELBO (batch mean)
        q, p = Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))
        reference = (-Normal(torch.sigmoid(logits), math.sqrt(s02)).log_prob(x).sum(-1)
                     + kl_divergence(q, p).sum(-1)).mean().double()
        assert gaussian.item() == pytest.approx(reference.item(), rel=1e-5)
        # eq. hidden-beta with beta = 1 against s0^2: Eq. (8) reweighted = (2 s0^2 / D) (-L) - s0^2 log(2 pi s0^2)
        expected = 2 * s02 / D * reference - s02 * math.log(2 * math.pi * s02)
        assert reweighted.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


def test_the_pixel_mean_bernoulli_loss_is_a_beta_vae_with_beta_d_divided_by_d():
    found = ec.variants(D)
    for seed in range(3):
        x, logits, mu, logvar = outputs(seed)
        terms = found["bernoulli_mean"].objective(Fixed(logits, mu, logvar), x)
        q, p = Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))
        cross_entropy = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = kl_divergence(q, p).sum(-1)
        assert terms.reconstruction.item() == pytest.approx((cross_entropy / D).mean().item(), rel=1e-5)
        assert terms.kl.item() == pytest.approx(kl.mean().item(), rel=1e-5)
        assert terms.loss.item() == pytest.approx(((cross_entropy + D * kl) / D).mean().item(), rel=1e-5)
    assert found["bernoulli_mean"].likelihood == "continuous_bernoulli"
    with pytest.raises(ValueError, match="must lie in"):  # grey levels only, like the Bernoulli ELBO
        found["bernoulli_mean"].objective.check_data("x", torch.full((2, D), 1.5))


def test_each_variant_is_scored_under_a_normalised_likelihood_of_its_own_family():
    found = ec.variants(D)
    assert found["elbo"].likelihood == "continuous_bernoulli" and found["eq8"].variance == D / 2
    assert found["gaussian"].variance == found["eq8_reweighted"].variance == pytest.approx(ec.S0**2)
    xs = torch.linspace(1e-6, 1 - 1e-6, 4001, dtype=torch.float64)[:, None]
    for eta in (-3.0, 0.5):
        density = log_likelihood(xs, torch.full_like(xs, eta), "continuous_bernoulli").exp()
        assert torch.trapz(density, xs[:, 0]).item() == pytest.approx(1.0, abs=1e-4)
        reference = ContinuousBernoulli(logits=torch.tensor(eta, dtype=torch.float64)).log_prob(xs[:, 0])
        torch.testing.assert_close(density.log(), reference)
    with pytest.raises(ValueError, match="s0 must be a finite positive number"):
        ec.variants(D, s0=0.0)


def test_measure_tells_a_collapsed_model_from_a_working_one():
    torch.manual_seed(0)
    x = torch.rand(64, D)
    working = VAE(ModelConfig())
    collapsed = VAE(ModelConfig())
    with torch.no_grad():  # an encoder that returns the prior for every image
        collapsed.encoder_head.weight.zero_()
        collapsed.encoder_head.bias.zero_()
    variant = ec.variants(D)["elbo"]
    alive, dead = ec.measure(working, variant, x), ec.measure(collapsed, variant, x)
    assert set(alive) == {"active_units", "kl", "heldout_elbo", "recon_mse"}
    assert dead["active_units"] == 0 and dead["kl"] == pytest.approx(0.0, abs=1e-6)
    assert alive["kl"] > dead["kl"]
    with pytest.raises(TypeError, match="x_heldout must be a torch.Tensor"):
        ec.measure(working, variant, [[0.5] * D])


def test_the_committed_results_cover_every_seed_and_variant():
    record = ec.load_committed()
    from vae_lib.training import REFERENCE

    assert record["training"] == vars(REFERENCE) and record["s0"] == ec.S0  # produced with today's settings
    assert len(record["results"]) >= 3
    for seed, by_name in record["results"].items():
        assert set(by_name) == set(ec.variants(D)), seed
        for values in by_name.values():
            assert set(values) == {"active_units", "kl", "heldout_elbo", "recon_mse"}
            assert all(math.isfinite(v) for v in values.values())


def test_a_bad_results_file_is_refused_with_its_path(tmp_path):
    for text in ("", "{not json", json.dumps({"command": "x"}), json.dumps({"results": [1, 2]})):
        path = tmp_path / "results.json"
        path.write_text(text)
        with pytest.raises(ValueError, match="results.json is not a results file of scripts/eq8_controls.py"):
            ec.load_committed(path)
    with pytest.raises(ValueError, match="missing.json is not a results file"):
        ec.load_committed(tmp_path / "missing.json")
