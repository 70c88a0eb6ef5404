"""vae_lib.chapters.diagnostics against independent references: NumPy, torch.distributions, direct optimisation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import vae_lib
from vae_lib.chapters import diagnostics as dg
from vae_lib.divergences import kl_diag_gaussian_to_standard_normal
from vae_lib.training import fit, source_eq8_objective, vae_objective

SEEDS = range(4)


def small_vae(input_dim=12, latent_dim=3, dtype=torch.float64):
    torch.manual_seed(0)
    return vae_lib.VAE(vae_lib.ModelConfig(input_dim=input_dim, hidden_dim=16, latent_dim=latent_dim)).to(dtype)


# --- Encoder statistics ----------------------------------------------------------------------


def test_encode_moments_and_reconstruct_match_the_model_in_one_pass():
    model = small_vae()
    x = torch.rand(23, 12, dtype=torch.float64)
    mu, logvar = dg.encode_moments(model, x, batch_size=5)  # 23 = 4 full batches + 3
    ref_mu, ref_logvar = model.encode(x)
    torch.testing.assert_close(mu, ref_mu.detach())
    torch.testing.assert_close(logvar, ref_logvar.detach())
    assert not mu.requires_grad
    torch.testing.assert_close(dg.reconstruct(model, x), torch.sigmoid(model.decode(ref_mu)).detach())
    # sampled: the same draws as the model's own forward pass with an equally seeded generator
    sampled = dg.reconstruct(model, x, sample=True, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits, _, _ = model(x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(sampled, torch.sigmoid(logits))
    assert not torch.allclose(sampled, dg.reconstruct(model, x))


@pytest.mark.parametrize("seed", SEEDS)
def test_unit_activity_is_the_sample_variance_of_the_means(seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(50, 7, generator=g, dtype=torch.float64) * torch.linspace(0.01, 2, 7, dtype=torch.float64)
    np.testing.assert_allclose(dg.unit_activity(mu).numpy(), np.var(mu.numpy(), axis=0, ddof=1), rtol=1e-12)


def test_active_units_counts_units_above_the_threshold():
    g = torch.Generator().manual_seed(0)
    n = 4000
    # standard deviations 0.01, 0.05 (variance 0.0025: inactive), 0.2, 1 (variance 0.04, 1: active)
    mu = torch.randn(n, 4, generator=g, dtype=torch.float64) * torch.tensor([0.01, 0.05, 0.2, 1.0], dtype=torch.float64)
    assert dg.active_units(mu) == 2
    assert dg.active_units(mu, threshold=1e-3) == 3
    assert dg.active_units(mu, threshold=2.0) == 0
    # a constant code: nothing varies with x, whatever its value
    assert dg.active_units(torch.full((10, 5), 3.0)) == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_kl_per_unit_matches_torch_distributions_and_sums_to_the_kl(seed):
    g = torch.Generator().manual_seed(seed)
    mu = 2 * torch.randn(30, 6, generator=g, dtype=torch.float64)
    logvar = 1.5 * torch.randn(30, 6, generator=g, dtype=torch.float64)
    ours = dg.kl_per_unit(mu, logvar)
    ref = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.sum(), kl_diag_gaussian_to_standard_normal(mu, logvar, reduction="mean"))
    one = kl_divergence(Normal(mu[0], torch.exp(0.5 * logvar[0])), Normal(0.0, 1.0))  # a single image: (J,)
    torch.testing.assert_close(dg.kl_per_unit(mu[:1], logvar[:1]), one, rtol=1e-12, atol=1e-12)


def test_encoder_statistics_reject_bad_input():
    with pytest.raises(TypeError, match="model must be a vae_lib.VAE"):
        dg.encode_moments(vae_lib.AutoEncoder(), torch.rand(2, 784))
    with pytest.raises(ValueError, match="batch_size"):
        dg.encode_moments(small_vae(), torch.rand(2, 12, dtype=torch.float64), batch_size=0)
    with pytest.raises(ValueError, match=r"mu must have shape \(N, J\)"):
        dg.unit_activity(torch.zeros(5))
    with pytest.raises(ValueError, match="N >= 2"):
        dg.unit_activity(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="threshold"):
        dg.active_units(torch.zeros(4, 3), threshold=0.0)
    with pytest.raises(ValueError, match="logvar has shape"):
        dg.kl_per_unit(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        dg.unit_activity(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))


# --- Eq. (8): the Gaussian reading and its hidden weight ---------------------------------------


@pytest.mark.parametrize("variance", [0.01, 1.0, 392.0])
def test_mse_as_gaussian_nll_matches_torch_normal(variance):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 20, generator=g, dtype=torch.float64)
    y = torch.rand(8, 20, generator=g, dtype=torch.float64)
    mse = (x - y).pow(2).mean(-1)
    ref = -Normal(y, math.sqrt(variance)).log_prob(x).sum(-1)
    torch.testing.assert_close(dg.mse_as_gaussian_nll(mse, 20, variance), ref, rtol=1e-12, atol=1e-9)


def test_offset_and_hidden_beta_closed_forms():
    # s^2 = n/2 makes 2 pi s^2 = pi n
    assert dg.source_eq8_offset(784) == pytest.approx(392 * math.log(math.pi * 784), rel=1e-15)
    assert dg.source_eq8_offset(784) == pytest.approx(-Normal(0.0, math.sqrt(392.0)).log_prob(torch.tensor(0.0)).item() * 784)
    assert dg.hidden_beta(784) == 392.0
    assert dg.hidden_beta(784, reference_variance=0.01) == pytest.approx(39_200.0)


def test_eq8_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="mse must be non-negative"):
        dg.mse_as_gaussian_nll(torch.tensor([-0.1]), 4, 1.0)
    with pytest.raises(TypeError, match="^D must be an int"):
        dg.mse_as_gaussian_nll(torch.tensor([0.1]), 4.0, 1.0)
    with pytest.raises(ValueError, match="variance"):
        dg.mse_as_gaussian_nll(torch.tensor([0.1]), 4, -1.0)
    with pytest.raises(ValueError, match="^D must be"):
        dg.source_eq8_offset(0)
    with pytest.raises(TypeError, match="^D must be an int"):
        dg.hidden_beta(True)
    with pytest.raises(ValueError, match="reference_variance"):
        dg.hidden_beta(784, reference_variance=0.0)


# --- The linear decoder: probabilistic PCA ----------------------------------------------------


def synthetic_data(n=3000, eigenvalues=(4.0, 2.0, 0.5, 0.2, 0.1), seed=0):
    """Data with a known covariance: a random rotation of independent Gaussians, plus an offset."""
    g = torch.Generator().manual_seed(seed)
    d = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    z = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.tensor(eigenvalues, dtype=torch.float64).sqrt()
    return z @ q.T + 0.3


def test_data_spectrum_matches_numpy():
    x = synthetic_data()
    ref = np.sort(np.linalg.eigvalsh(np.cov(x.numpy(), rowvar=False, ddof=0)))[::-1]
    np.testing.assert_allclose(dg.data_spectrum(x).numpy(), ref, rtol=1e-10, atol=1e-12)
    values, vectors = dg.data_spectrum(x, return_vectors=True)
    np.testing.assert_allclose(values.numpy(), ref, rtol=1e-10, atol=1e-12)
    cov = torch.from_numpy(np.cov(x.numpy(), rowvar=False, ddof=0))
    torch.testing.assert_close(cov @ vectors, vectors * values, rtol=0, atol=1e-10)  # S v = lambda v
    torch.testing.assert_close(vectors.T @ vectors, torch.eye(x.shape[1], dtype=torch.float64), rtol=0, atol=1e-10)


@pytest.mark.parametrize("k", [0, 2, 4])
@pytest.mark.parametrize("variance", [0.15, 1.0])
def test_ppca_gain_is_the_exact_log_likelihood_difference(k, variance):
    """Average log N(x; mean, s^2 I + w^2 u u^T) - log N(x; mean, s^2 I), u the k-th eigenvector."""
    x = synthetic_data()
    mean = x.mean(0)
    xc = x - mean
    evals, evecs = torch.linalg.eigh(xc.T @ xc / x.shape[0])
    lam, u = evals.flip(0)[k], evecs.flip(1)[:, k]
    eye = torch.eye(x.shape[1], dtype=torch.float64)
    base = MultivariateNormal(mean, variance * eye).log_prob(x).mean()
    for w2 in [0.0, 0.3, 1.7, 6.0]:
        ref = MultivariateNormal(mean, variance * eye + w2 * torch.outer(u, u)).log_prob(x).mean() - base
        ours = dg.ppca_gain(torch.tensor(w2, dtype=torch.float64), lam.item(), variance)
        assert ours.item() == pytest.approx(ref.item(), abs=1e-10)


@pytest.mark.parametrize("lam, variance", [(4.0, 1.0), (0.5, 1.0), (5.29, 392.0), (2.0, 1.99)])
def test_ppca_optimal_scale_maximises_the_gain(lam, variance):
    w2 = torch.linspace(0, 3 * lam + 1, 300_001, dtype=torch.float64)
    best = w2[dg.ppca_gain(w2, lam, variance).argmax()].item()
    expected = dg.ppca_optimal_scale(torch.tensor([lam], dtype=torch.float64), variance).item()
    assert expected == max(lam - variance, 0.0)
    assert best == pytest.approx(expected, abs=2 * (w2[1] - w2[0]).item())


def test_retained_directions_agree_with_a_directly_fitted_ppca():
    """Maximise the exact pPCA log-likelihood over W (D x J) with L-BFGS: the singular values of the
    fitted W are max(lambda_i - s^2, 0)^(1/2) for the top J eigenvalues (Tipping and Bishop, 1999)."""
    x = synthetic_data()
    variance, j = 0.8, 3  # eigenvalues ~ (4, 2, 0.5, ...): two exceed s^2, the third does not
    lam = dg.data_spectrum(x)
    assert dg.retained_directions(lam, variance) == 2
    mean, eye = x.mean(0), torch.eye(x.shape[1], dtype=torch.float64)
    w = (0.1 * torch.randn(x.shape[1], j, generator=torch.Generator().manual_seed(3), dtype=torch.float64)).requires_grad_()
    opt = torch.optim.LBFGS([w], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -MultivariateNormal(mean, w @ w.T + variance * eye).log_prob(x).mean()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    singular = torch.linalg.svdvals(w.detach())
    expected = dg.ppca_optimal_scale(lam[:j], variance).sqrt()
    np.testing.assert_allclose(singular.numpy(), expected.numpy(), atol=2e-3)


def test_ppca_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="w2 must be non-negative"):
        dg.ppca_gain(torch.tensor([-1.0]), 1.0, 1.0)
    with pytest.raises(ValueError, match="eigenvalue"):
        dg.ppca_gain(torch.tensor([1.0]), -1.0, 1.0)
    with pytest.raises(ValueError, match="variance"):
        dg.ppca_optimal_scale(torch.tensor([1.0]), 0.0)
    with pytest.raises(TypeError, match="eigenvalues must be a torch.Tensor"):
        dg.retained_directions([1.0, 2.0], 1.0)


# --- The experiment in miniature: Eq. (8) collapses, the ELBO does not ------------------------


def test_source_eq8_collapses_the_code_while_the_elbo_uses_it():
    split = vae_lib.data.load_dataset("embedded")
    x, x_eval = split.train.images[:1500], split.heldout.images[:500]
    counts, kls = {}, {}
    for name, objective in (("elbo", vae_objective()), ("eq8", source_eq8_objective())):
        torch.manual_seed(0)
        model = vae_lib.VAE()
        fit(model, objective, x, epochs=4, progress=False)
        mu, logvar = dg.encode_moments(model, x_eval)
        counts[name], kls[name] = dg.active_units(mu), dg.kl_per_unit(mu, logvar).sum().item()
    assert counts["eq8"] == 0 and kls["eq8"] < 0.05  # beta = 392: no unit is worth its KL
    assert counts["elbo"] >= 10 and kls["elbo"] > 3.0


def test_spectrum_explorer_carries_the_spectrum_and_the_marks():
    eigenvalues = torch.tensor([5.0, 2.0, 0.5, 1e-13, -1e-14], dtype=torch.float64)
    explorer = dg.spectrum_explorer(eigenvalues, {"D/2": 392.0}, n_show=4, latent_dim=2)
    d = explorer.data
    assert d["eigenvalues"] == [5.0, 2.0, 0.5, 0.0, 0.0]  # round-off-sized values are 0 on every machine
    assert d["n_show"] == 4 and d["latent_dim"] == 2
    (slider,) = explorer.sliders
    assert slider.log and 392.0 in slider.ticks and "D/2" in slider.tick_labels
    # the page counts eigenvalues above s^2 as retained_directions does
    for s2 in (0.1, 1.0, 392.0):
        assert sum(v > s2 for v in d["eigenvalues"]) == dg.retained_directions(eigenvalues, s2)
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        dg.spectrum_explorer(eigenvalues, {}, n_show=4, latent_dim=0)
    with pytest.raises(ValueError, match="n_show must be an integer in"):
        dg.spectrum_explorer(eigenvalues, {}, n_show=9)
    with pytest.raises(ValueError, match="variance_marks\\['x'\\] must be a finite positive number"):
        dg.spectrum_explorer(eigenvalues, {"x": -1.0}, n_show=4)
    with pytest.raises(ValueError, match="eigenvalues must have shape"):
        dg.spectrum_explorer(eigenvalues[None], {}, n_show=1)
