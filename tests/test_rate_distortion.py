"""vae_lib.chapters.rate_distortion against independent references (chapter 8).

* the Gaussian channel's closed forms against Monte Carlo with torch.distributions: rate,
  distortion, mutual information, the KL of the aggregate posterior; then the identities and
  bounds of the plane (rate = I + marginal KL, distortion >= H - I, distortion + rate >= H);
* the optimal decoder variance against a grid search over the summed Normal log-likelihood, and
  the profiled loss against torch.distributions at that variance;
* beta_from_variance: a decoder of variance s^2, rescaled, is the beta-loss at s0 plus a constant;
* free bits against a per-unit loop, with no KL gradient below the floor; the annealing schedule;
* the sigma-VAE objective against torch.distributions, and its variance is a trained parameter;
* the committed results and the explorer's arrays: present, small, consistent; bad input refused by name.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import vae_lib
from vae_lib.chapters import beta_sweep as bs
from vae_lib.chapters import diagnostics as dg
from vae_lib.chapters import rate_distortion as rd
from vae_lib.chapters.gaussian_channel import GaussianChannel
from vae_lib.objectives import negative_elbo
from vae_lib.training import REFERENCE

D, J = 784, 20


def _mc_channel(ch: GaussianChannel, n: int, seed: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed)
    px = MultivariateNormal(torch.zeros(ch.cov_x.shape[0], dtype=torch.float64), ch.cov_x)
    torch.manual_seed(seed)
    x = px.sample((n,))
    v = ch.logvar.exp()
    qzx = MultivariateNormal(x @ ch.A.T, torch.diag(v))
    z = qzx.sample()
    prior = MultivariateNormal(torch.zeros(v.shape[0], dtype=torch.float64), torch.eye(v.shape[0], dtype=torch.float64))
    qz = MultivariateNormal(torch.zeros(v.shape[0], dtype=torch.float64), ch._cov_z())
    dec = Normal(z @ ch.W.T + ch.b, math.sqrt(ch.variance))
    del g
    return {"rate": kl_divergence(qzx, prior).mean().item(),
            "distortion": -dec.log_prob(x).sum(-1).mean().item(),
            "mi": (qzx.log_prob(z) - qz.log_prob(z)).mean().item(),
            "marginal_kl": (qz.log_prob(z) - prior.log_prob(z)).mean().item(),
            "entropy": -px.log_prob(x).mean().item()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_channel_closed_forms_match_monte_carlo(seed):
    ch = GaussianChannel.random(5, 3, torch.Generator().manual_seed(seed))
    mc = _mc_channel(ch, 200_000, seed)
    exact = {"rate": ch.rate(), "distortion": ch.distortion(), "mi": ch.mutual_information(),
             "marginal_kl": ch.marginal_kl(), "entropy": ch.data_entropy()}
    for key, value in exact.items():  # 200,000 draws: standard errors of a few 1e-3 for these spreads
        assert mc[key] == pytest.approx(value, abs=0.03 + 0.01 * abs(value)), key


@pytest.mark.parametrize("seed", range(5))
def test_the_plane_identities_and_bounds_hold_on_the_channel(seed):
    ch = GaussianChannel.random(6, 2, torch.Generator().manual_seed(10 + seed))
    rate, mi, mkl = ch.rate(), ch.mutual_information(), ch.marginal_kl()
    assert rate == pytest.approx(mi + mkl, abs=1e-10)  # eq. rate-mutual-information
    assert mkl >= 0 and mi >= 0
    assert ch.distortion() >= ch.data_entropy() - mi  # eq. distortion-mutual-information
    assert ch.distortion() + rate >= ch.data_entropy()  # eq. rate-distortion-bound


@pytest.mark.parametrize("seed", range(3))
def test_distortion_splits_into_conditional_entropy_and_decoder_mismatch(seed):
    """eq. distortion-conditional-entropy as an equality; q(x|z) checked against the joint's sample moments."""
    ch = GaussianChannel.random(5, 3, torch.Generator().manual_seed(20 + seed))
    assert ch.conditional_entropy() == pytest.approx(ch.data_entropy() - ch.mutual_information(), abs=1e-10)
    assert ch.distortion() == pytest.approx(ch.conditional_entropy() + ch.decoder_mismatch(), abs=1e-10)
    assert ch.decoder_mismatch() > 0
    gain, cov = ch._posterior_of_x()
    torch.manual_seed(seed)
    x = MultivariateNormal(torch.zeros(5, dtype=torch.float64), ch.cov_x).sample((200_000,))
    z = x @ ch.A.T + ch.logvar.mul(0.5).exp() * torch.randn(200_000, 3, dtype=torch.float64)
    residual = x - z @ gain.T  # x - E[x | z]: uncorrelated with z, with covariance C
    assert torch.allclose(residual.T @ z / 200_000, torch.zeros(5, 3, dtype=torch.float64), atol=0.02)
    assert torch.allclose(torch.cov(residual.T), cov, atol=0.02)


def test_the_decoder_mismatch_vanishes_for_the_exact_decoder():
    ch = GaussianChannel.random(1, 1, torch.Generator().manual_seed(5))
    gain, cov = ch._posterior_of_x()
    exact = GaussianChannel(ch.cov_x, ch.A, ch.logvar, gain, torch.zeros(1, dtype=torch.float64), cov.item())
    assert exact.decoder_mismatch() == pytest.approx(0.0, abs=1e-12)


def test_the_bound_is_tight_for_the_exact_decoder_of_a_scalar_channel():
    # D = J = 1: the best decoder is the exact conditional q(x|z), Gaussian; then distortion = H - I
    cov_x, a, v = torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[0.7]], dtype=torch.float64), 0.3
    var_z = a.item() ** 2 * 2.0 + v
    w = a.item() * 2.0 / var_z  # E[x | z] = w z
    s2 = 2.0 - w * a.item() * 2.0  # Var(x | z)
    ch = GaussianChannel(cov_x, a, torch.tensor([math.log(v)], dtype=torch.float64),
                            torch.tensor([[w]], dtype=torch.float64), torch.zeros(1, dtype=torch.float64), s2)
    assert ch.distortion() == pytest.approx(ch.data_entropy() - ch.mutual_information(), abs=1e-12)


def test_optimal_variance_maximises_the_normal_log_likelihood():
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(50, 30, generator=g, dtype=torch.float64), torch.rand(50, 30, generator=g, dtype=torch.float64)
    s2 = rd.optimal_variance(x, y)
    grid = torch.linspace(0.5 * s2, 1.5 * s2, 2001, dtype=torch.float64)
    ll = torch.stack([Normal(y, v.sqrt()).log_prob(x).sum() for v in grid])
    assert grid[ll.argmax()].item() == pytest.approx(s2, rel=1e-3)
    profiled = -Normal(y, math.sqrt(s2)).log_prob(x).sum(-1).mean().item()
    assert rd.profiled_gaussian_nll(x, y) == pytest.approx(profiled, rel=1e-12)  # eq. profiled-loss


def test_a_decoder_variance_is_a_beta_on_the_s0_plane():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, D, generator=g, dtype=torch.float64)
    logits, mu, logvar = (torch.randn(6, k, generator=g, dtype=torch.float64) for k in (D, J, J))
    s02 = rd.S0**2
    for s2 in (0.013, 1.0, D / 2):
        beta = rd.beta_from_variance(s2, s02)
        lhs = s2 / s02 * negative_elbo(x, logits, mu, logvar, likelihood="gaussian", variance=s2, reduction="none").loss
        rhs = negative_elbo(x, logits, mu, logvar, likelihood="gaussian", variance=s02, beta=beta, reduction="none").loss
        const = 0.5 * D * (s2 / s02 * math.log(2 * math.pi * s2) - math.log(2 * math.pi * s02))
        assert torch.allclose(lhs - rhs, torch.full_like(lhs, const), rtol=1e-12, atol=1e-9)
    assert dg.hidden_beta(D, rd.S0**2) == pytest.approx(D / (2 * s02))


def test_free_bits_matches_a_per_unit_loop_and_stops_the_gradient_below_the_floor():
    g = torch.Generator().manual_seed(5)
    mu = (0.3 * torch.randn(16, 4, generator=g, dtype=torch.float64)).requires_grad_()
    logvar = torch.zeros(16, 4, dtype=torch.float64)
    mu.data[:, 0] += 2.0  # unit 0 far above the floor
    total = rd.free_bits_kl(mu, logvar, floor=0.5)
    reference = 0.0
    for j in range(4):
        kl_j = kl_divergence(Normal(mu[:, j], 1.0), Normal(0.0, 1.0)).mean()
        reference = reference + max(0.5, kl_j.item())
    assert total.item() == pytest.approx(reference, rel=1e-12)
    total.backward()
    small = [j for j in range(4) if kl_divergence(Normal(mu[:, j], 1.0), Normal(0.0, 1.0)).mean() < 0.5]
    assert small and all(bool((mu.grad[:, j] == 0).all()) for j in small)
    assert bool((mu.grad[:, 0] != 0).all())
    assert rd.free_bits_kl(mu.detach(), logvar, floor=0.0).item() == pytest.approx(
        vae_lib.divergences.kl_diag_gaussian_to_standard_normal(mu.detach(), logvar).item(), rel=1e-12)


def test_free_bits_beta_objective_is_the_beta_loss_with_its_kl_floored():
    torch.manual_seed(0)
    model = vae_lib.VAE(vae_lib.ModelConfig(input_dim=12, hidden_dim=8, latent_dim=3)).double()
    x = torch.rand(6, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for floor in (0.0, 0.5):
        torch.manual_seed(2)
        ours = rd.free_bits_beta_objective(40.0, floor)(model, x)
        torch.manual_seed(2)
        logits, mu, logvar = model(x)
        rec = -Normal(torch.sigmoid(logits), rd.S0).log_prob(x).sum(-1).mean()
        assert ours.reconstruction.item() == pytest.approx(rec.item(), rel=1e-10)
        assert ours.loss.item() == pytest.approx((rec + 40.0 * rd.free_bits_kl(mu, logvar, floor)).item(), rel=1e-10)
        assert ours.kl.item() == pytest.approx(
            vae_lib.divergences.kl_diag_gaussian_to_standard_normal(mu, logvar).item(), rel=1e-10)
    plain = vae_lib.training.vae_objective("gaussian", beta=40.0, variance=rd.S0**2)
    torch.manual_seed(3)
    a = rd.free_bits_beta_objective(40.0, 0.0)(model, x).loss
    torch.manual_seed(3)
    assert a.item() == pytest.approx(plain(model, x).loss.item(), rel=1e-10)  # floor 0: the beta-loss itself


def test_the_annealing_schedule_ramps_from_zero_to_one():
    weights = [rd.kl_anneal_weight(e, 4) for e in range(7)]
    assert weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_sigma_vae_objective_matches_torch_distributions_and_trains_its_variance():
    torch.manual_seed(0)
    model = rd.SigmaVAE(vae_lib.ModelConfig(input_dim=12, hidden_dim=8, latent_dim=2), variance=0.3).double()
    x = torch.rand(5, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.manual_seed(2)
    terms = rd.sigma_vae_objective()(model, x)
    torch.manual_seed(2)
    logits, mu, logvar = model(x)
    rec = -Normal(torch.sigmoid(logits), math.sqrt(model.variance)).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1).mean()
    assert terms.reconstruction.item() == pytest.approx(rec.item(), rel=1e-10)
    assert terms.loss.item() == pytest.approx((rec + kl).item(), rel=1e-10)
    terms.loss.backward()
    assert model.log_variance.grad is not None and model.log_variance.grad.item() != 0
    assert any(n == "log_variance" for n, _ in model.named_parameters())


@pytest.mark.parametrize("call, match", [
    (lambda: rd.beta_from_variance(-1.0, 0.01), "variance"),
    (lambda: rd.beta_from_variance(1.0, 0.0), "reference_variance"),
    (lambda: rd.kl_anneal_weight(-1), "epoch"),
    (lambda: rd.kl_anneal_weight(0, 0), "warmup"),
    (lambda: rd.free_bits_kl(torch.zeros(2, 3), torch.zeros(2, 3), floor=-1.0), "floor"),
    (lambda: rd.free_bits_kl(torch.zeros(3), torch.zeros(3)), "mu"),
    (lambda: rd.free_bits_eq8_objective(float("nan")), "floor"),
    (lambda: rd.free_bits_beta_objective(-1.0), "beta"),
    (lambda: rd.train_annealed(torch.zeros(2, D), 0, beta=0.0), "beta"),
    (lambda: rd.optimal_variance(torch.zeros(2, 3), torch.zeros(2, 4)), "x"),
    (lambda: rd.profiled_gaussian_nll(torch.ones(2, 3), torch.ones(2, 3)), "optimal variance is 0"),
    (lambda: rd.zero_rate_distortion(torch.zeros(4, 3), variance=0.0), "variance"),
    (lambda: rd.to_uint8(torch.zeros(2, 10)), "images"),
    (lambda: rd.SigmaVAE(variance=0.0), "variance"),
    (lambda: rd.sigma_vae_objective()(vae_lib.VAE(), torch.zeros(2, D)), "model must be a SigmaVAE"),
])
def test_bad_input_is_refused_by_name(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_zero_rate_distortion_is_the_gaussian_nll_around_the_mean():
    x = torch.rand(40, 7, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    reference = -Normal(x.mean(0), math.sqrt(0.01)).log_prob(x).sum(-1).mean().item()
    assert rd.zero_rate_distortion(x, 0.01) == pytest.approx(reference, rel=1e-12)


# --- The committed results ------------------------------------------------------------------------


def test_committed_results_match_todays_settings_and_have_every_seed():
    record = bs.load_committed()
    assert record["training"] == vars(REFERENCE), "REFERENCE changed: run scripts/rate_distortion.py again"
    assert record["s0"] == rd.S0 and record["free_bits"] == rd.FREE_BITS
    assert record["warmup_epochs"] == rd.WARMUP_EPOCHS and record["sigma_lr"] == rd.SIGMA_LR
    assert len(record["remedies"]) >= 3 and set(record["remedies"]) == set(record["sigma_vae"])
    for rows in record["remedies"].values():
        assert set(rows) == {"eq8", "annealed", "free_bits"}
    betas = [float(b) for b in record["sweep"]["0"]]
    assert 1.0 in betas and dg.hidden_beta(D, rd.S0**2) in betas


def test_committed_checks_have_every_seed_both_splits_and_todays_settings(tmp_path):
    record = bs.load_checks()
    assert record["training"] == vars(REFERENCE), "REFERENCE changed: run scripts/rate_distortion.py --checks again"
    assert len(record["frontier"]) >= 3 and set(record["frontier"]) == set(record["collapse"])
    assert record["long_epochs"] > REFERENCE.epochs
    for rows in record["frontier"].values():
        assert set(rows) == {"beta1", "beta1_long", "sigma"}
        assert all(set(row) == {"heldout", "train"} for row in rows.values())
    bad = tmp_path / "c.json"
    bad.write_text('{"frontier": []}')
    with pytest.raises(ValueError, match="--checks"):
        bs.load_checks(bad)


def test_the_committed_zero_rate_bound_is_that_of_the_embedded_heldout_digits():
    x = vae_lib.data.load_dataset("embedded").heldout.images
    assert bs.load_committed()["zero_rate_distortion"] == pytest.approx(rd.zero_rate_distortion(x), rel=1e-12)


def test_explorer_data_is_small_consistent_and_uint8():
    assert bs.IMAGES.stat().st_size < 200_000
    data = bs.beta_explorer_data()
    n = len(data.betas)
    assert list(data.betas) == sorted(data.betas) and data.rate.shape == data.distortion.shape == (n,)
    assert data.originals.shape == (bs.N_EXPLORER, 28, 28) and data.originals.dtype == np.uint8
    assert data.reconstructions.shape == data.samples.shape == (n, bs.N_EXPLORER, 28, 28)
    assert data.reconstructions.dtype == data.samples.dtype == np.uint8
    # the collapsed end: every reconstruction is (nearly) the same image
    assert data.reconstructions[-1].astype(float).std(0).mean() < data.reconstructions[0].astype(float).std(0).mean() / 5


def test_a_bad_results_file_is_refused_naming_the_script(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="scripts/rate_distortion.py"):
        bs.load_committed(bad)
    with pytest.raises(ValueError, match="scripts/rate_distortion.py"):
        bs.beta_explorer_data(images=tmp_path / "missing.npz")


def test_beta_explorer_carries_the_committed_sweep_and_its_images():
    import base64
    import zlib

    data = bs.beta_explorer_data()
    explorer = bs.beta_explorer(data, {1.0: "ELBO"})
    d = explorer.data
    assert d["beta"] == [float(b) for b in data.betas] and d["marks"] == [{"index": d["beta"].index(1.0), "label": "ELBO"}]
    assert d["rate"] == pytest.approx(list(data.rate), abs=1e-4) and d["distortion"] == pytest.approx(list(data.distortion), abs=1e-4)
    images = np.frombuffer(zlib.decompress(base64.b64decode(d["images"])), np.uint8)
    per = d["n_images"] * d["side"] ** 2
    assert images.size == per * (1 + 2 * len(data.betas))
    np.testing.assert_array_equal(images[:per], data.originals.reshape(-1))  # the layout the page reads
    last = len(data.betas) - 1
    np.testing.assert_array_equal(images[per * (1 + 2 * last): per * (2 + 2 * last)], data.reconstructions[last].reshape(-1))
    np.testing.assert_array_equal(images[per * (2 + 2 * last):], data.samples[last].reshape(-1))
    (slider,) = explorer.sliders
    assert slider.log and slider.lo == min(d["beta"]) and slider.hi == max(d["beta"]) and slider.value == 1.0
    assert slider.stops == tuple(d["beta"])  # the page can show only the models that were trained
    labels = dict(zip(slider.ticks, slider.tick_labels))
    assert labels[1.0] == "1" and labels[10000.0] == "10⁴" and labels[max(d["beta"])] == f"{max(d['beta']):g}"
    with pytest.raises(ValueError, match="^marks must map betas of the sweep"):
        bs.beta_explorer(data, {2.5: "not in the sweep"})
    with pytest.raises(TypeError, match="^data must be the ExplorerData"):
        bs.beta_explorer({"betas": []}, {})
