"""The identities checked in the final-loss chapter (06), each against an independent reference.

* gaussian-decoder / mse-gaussian-nll: the Gaussian log-likelihood and its MSE form (torch.distributions);
* source-eq8-as-elbo: Eq. (8) = Gaussian negative ELBO with s^2 = n/2, minus a constant;
* hidden-beta: Eq. (8) = (2 s0^2/n) x (beta-weighted negative ELBO of a variance-s0^2 decoder) - constant;
* iwae-bound: the importance-sampled estimate against log p(x) and the ELBO computed by quadrature.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import vae_lib
from vae_lib.chapters import diagnostics as dg
from vae_lib.evaluation import heldout_elbo, importance_sampled_log_likelihood
from vae_lib.objectives import (
    gaussian_log_likelihood,
    negative_elbo,
    source_eq8_equivalent_variance,
    source_eq8_loss,
)

N_PIXELS = 784


def random_batch(seed, b=16, n=N_PIXELS, j=20):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, n, generator=g, dtype=torch.float64)
    logits = 2 * torch.randn(b, n, generator=g, dtype=torch.float64)
    mu = torch.randn(b, j, generator=g, dtype=torch.float64)
    logvar = torch.randn(b, j, generator=g, dtype=torch.float64)
    return x, logits, mu, logvar


def reference_terms(x, y, mu, logvar, variance):
    """-log N(x; y, variance I) and KL(q || N(0, I)) from torch.distributions, per example."""
    nll = -Normal(y, math.sqrt(variance)).log_prob(x).sum(-1)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    return nll, kl


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("variance", [0.01, 1.0, 392.0])
def test_gaussian_decoder_and_its_mse_form(seed, variance):
    x, logits, _, _ = random_batch(seed)
    y = torch.sigmoid(logits)
    ref = Normal(y, math.sqrt(variance)).log_prob(x).sum(-1)
    ours = gaussian_log_likelihood(x, y, variance, reduction="none")  # eq. gaussian-decoder
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-9)
    mse = (x - y).pow(2).mean(-1)
    torch.testing.assert_close(dg.mse_as_gaussian_nll(mse, N_PIXELS, variance), -ref, rtol=1e-12, atol=1e-9)
    # and back: MSE = (2 s^2 / n) (nll - n/2 log(2 pi s^2))
    back = 2 * variance / N_PIXELS * (-ref - 0.5 * N_PIXELS * math.log(2 * math.pi * variance))
    torch.testing.assert_close(back, mse, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_source_eq8_is_the_gaussian_negative_elbo_with_variance_n_over_2_up_to_a_constant(seed):
    x, logits, mu, logvar = random_batch(seed)
    y = torch.sigmoid(logits)
    s2 = source_eq8_equivalent_variance(N_PIXELS)
    assert s2 == N_PIXELS / 2
    eq8 = source_eq8_loss(x, y, mu, logvar, reduction="none").loss
    nll, kl = reference_terms(x, y, mu, logvar, s2)
    diff = (nll + kl) - eq8
    torch.testing.assert_close(diff, torch.full_like(diff, dg.source_eq8_offset(N_PIXELS)), rtol=1e-12, atol=1e-9)
    # the same through the library's negative ELBO
    lib = negative_elbo(x, logits, mu, logvar, likelihood="gaussian", variance=s2, reduction="none").loss
    torch.testing.assert_close(lib - eq8, diff, rtol=1e-12, atol=1e-9)
    # and the constant does not depend on the batch: a different variance would leave an x-dependent gap
    other = negative_elbo(x, logits, mu, logvar, likelihood="gaussian", variance=1.0, reduction="none").loss - eq8
    assert other.std() > 1.0


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("s02", [1.0, 0.01])
def test_source_eq8_is_a_beta_vae_with_beta_n_over_2_s0_squared(seed, s02):
    x, logits, mu, logvar = random_batch(seed)
    y = torch.sigmoid(logits)
    beta = dg.hidden_beta(N_PIXELS, reference_variance=s02)
    eq8 = source_eq8_loss(x, y, mu, logvar, reduction="none").loss
    nll, kl = reference_terms(x, y, mu, logvar, s02)
    scaled = 2 * s02 / N_PIXELS * (nll + beta * kl) - s02 * math.log(2 * math.pi * s02)
    torch.testing.assert_close(scaled, eq8, rtol=1e-12, atol=1e-9)
    lib = negative_elbo(x, logits, mu, logvar, likelihood="gaussian", variance=s02, beta=beta, reduction="none").loss
    torch.testing.assert_close(2 * s02 / N_PIXELS * lib - s02 * math.log(2 * math.pi * s02), eq8, rtol=1e-12, atol=1e-9)


# --- iwae-bound: a one-dimensional latent, so log p(x) and the ELBO are quadratures ---------------


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = vae_lib.VAE(vae_lib.ModelConfig(input_dim=8, hidden_dim=16, latent_dim=1)).double()
    for p in model.parameters():  # larger weights than the default init: a non-trivial posterior
        p.data.mul_(3.0)
    x = (torch.rand(4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64) > 0.5).double()
    # q can be wide (sd ~ 4 here): the grid must hold all of its mass, not only the prior's
    z = torch.linspace(-40, 40, 80_001, dtype=torch.float64).unsqueeze(-1)  # (G, 1)
    with torch.no_grad():
        logits = model.decode(z)  # (G, D)
        log_px_z = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits.unsqueeze(0).expand(x.shape[0], -1, -1), x.unsqueeze(1).expand(-1, z.shape[0], -1),
            reduction="none").sum(-1)  # (B, G)
        log_pz = Normal(0.0, 1.0).log_prob(z.squeeze(-1))
        dz = (z[1] - z[0]).item()
        log_evidence = torch.logsumexp(log_px_z + log_pz, dim=1) + math.log(dz)  # Riemann sum, smooth integrand
        mu, logvar = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * logvar))  # (B, 1)
        log_q = q.log_prob(z.squeeze(-1))  # (B, G)
        elbo = (log_q.exp() * (log_px_z + log_pz - log_q)).sum(1) * dz
    return model, x, log_evidence, elbo


def repeated_estimates(model, x, k, repeats, seed=0):
    """(repeats, B) independent estimates log (1/k) sum_i w_i for every image."""
    xr = x.repeat(repeats, 1)
    return importance_sampled_log_likelihood(model, xr, k=k, seed=seed).reshape(repeats, x.shape[0])


def test_quadrature_reference_is_self_consistent(tiny):
    model, x, log_evidence, elbo = tiny
    mu, logvar = model.encode(x)
    assert bool((mu.abs() + 6 * torch.exp(0.5 * logvar) < 40).all())  # the grid covers q
    assert bool((elbo < log_evidence).all())  # KL(q || p(z|x)) > 0 for this encoder


def test_k1_estimate_is_unbiased_for_the_elbo(tiny):
    model, x, _, elbo = tiny
    est = repeated_estimates(model, x, k=1, repeats=20_000)
    se = est.std(0) / math.sqrt(est.shape[0])
    assert bool(((est.mean(0) - elbo).abs() < 4 * se).all()), (est.mean(0), elbo, se)


def test_heldout_elbo_estimates_the_same_elbo(tiny):
    model, x, _, elbo = tiny
    repeats = 20_000
    xr = x.repeat(repeats, 1)
    out = heldout_elbo(model, xr, batch_size=10_000)
    # its standard error, from an independent run of the same one-sample estimator
    with torch.no_grad():
        logits, mu, logvar = model(xr, generator=torch.Generator().manual_seed(99))
        per = -negative_elbo(xr, logits, mu, logvar, reduction="none").loss.reshape(repeats, -1)
    se = (per.var(0).mean() / (repeats * x.shape[0])).sqrt().item()  # se of the mean over all rows
    assert out.elbo == pytest.approx(elbo.mean().item(), abs=4 * se)
    assert per.mean().item() == pytest.approx(elbo.mean().item(), abs=4 * se)


def test_iwae_bound_rises_with_k_towards_log_evidence(tiny):
    model, x, log_evidence, elbo = tiny
    means = {k: repeated_estimates(model, x, k=k, repeats=2000, seed=k).mean(0) for k in (1, 10, 100)}
    assert bool((means[1] < means[10]).all()) and bool((means[10] < means[100]).all())
    assert bool((means[100] <= log_evidence + 0.01).all())  # a lower bound in expectation
    big = importance_sampled_log_likelihood(model, x, k=200_000, batch_size=1)
    torch.testing.assert_close(big, log_evidence, atol=0.01, rtol=0)
    assert bool((big > elbo).all())
