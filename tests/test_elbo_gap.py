"""vae_lib.chapters.elbo_gap against independent references (chapter 7).

* the full-covariance log-density and KL against torch.distributions.MultivariateNormal;
* L_k on the linear-Gaussian model against its exact evidence: L_1 is the closed-form ELBO,
  L_k rises with k and approaches log p(x);
* the per-example optimiser against a brute-force answer: on a decoder whose posterior is known
  (a linear-Gaussian model written as a VAE is not available, so a one-unit VAE whose ELBO is
  maximised by a grid search over (mu, log sigma^2)), and it leaves the decoder untouched;
* the IWAE objective reduces to the negative ELBO at k = 1 in expectation and is an ElboTerms;
* the aggregate posterior against an explicit mixture of MultivariateNormal densities.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

import vae_lib
from vae_lib.chapters import elbo_gap as eg
from vae_lib.chapters import full_gaussian as fg
from vae_lib.chapters.linear_gaussian import LinearGaussian
from vae_lib.objectives import ElboTerms, negative_elbo
from vae_lib.training import Objective


def _random_tril(j: int, batch: int, g: torch.Generator) -> torch.Tensor:
    return fg.scale_tril_from_unconstrained(0.5 * torch.randn(batch, j, j, generator=g, dtype=torch.float64))


def test_full_gaussian_log_density_and_kl_match_multivariate_normal():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(5, 4, generator=g, dtype=torch.float64)
    tril = _random_tril(4, 5, g)
    z = torch.randn(7, 5, 4, generator=g, dtype=torch.float64)
    ref = MultivariateNormal(mean, scale_tril=tril)
    assert torch.allclose(fg.full_gaussian_log_density(z, mean, tril), ref.log_prob(z), rtol=0, atol=1e-10)
    prior = MultivariateNormal(torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    kl = torch.distributions.kl_divergence(ref, prior)
    assert torch.allclose(fg.full_gaussian_kl_to_standard_normal(mean, tril), kl, rtol=0, atol=1e-10)


def test_diagonal_scale_tril_gives_the_diagonal_kl():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(3, 6, generator=g, dtype=torch.float64), torch.randn(3, 6, generator=g, dtype=torch.float64)
    kl = fg.full_gaussian_kl_to_standard_normal(mu, fg.diagonal_scale_tril(logvar))
    ref = vae_lib.divergences.kl_diag_gaussian_to_standard_normal(mu, logvar, reduction="none")
    assert torch.allclose(kl, ref, rtol=0, atol=1e-12)


def test_iwae_estimate_of_equal_weights_is_exact_with_zero_error():
    logw = torch.full((10, 3), -2.5, dtype=torch.float64)
    est = eg.iwae_estimate(logw)
    assert torch.allclose(est.mean, torch.full((3,), -2.5, dtype=torch.float64)) and bool((est.stderr == 0).all())


def _iw_bound(model: LinearGaussian, x, mean, cov, k: int, reps: int, seed: int):
    """L_k on the linear-Gaussian model: mean over reps of log (1/k) sum_i w_i, and its standard error."""
    g = torch.Generator().manual_seed(seed)
    tril = torch.linalg.cholesky(cov)
    z = mean + (tril @ torch.randn(reps, k, mean.shape[-1], 1, generator=g, dtype=torch.float64)).squeeze(-1)
    logw = model.log_joint(x, z) - fg.full_gaussian_log_density(z, mean, tril)
    values = torch.logsumexp(logw, -1) - math.log(k)
    return values.mean().item(), values.std().item() / math.sqrt(reps)


def test_iw_bound_on_the_linear_gaussian_model_rises_to_the_exact_evidence():
    gen = torch.Generator().manual_seed(11)  # chapter 4's model, whose posterior is tilted
    model = LinearGaussian.random(latent_dim=2, data_dim=5, variance=0.25, generator=gen)
    _, x = model.sample(1, generator=gen)
    x = x[0]
    mf_mu, mf_logvar = model.mean_field_optimum(x)
    cov = torch.diag(mf_logvar.exp())
    log_px, elbo = model.log_evidence(x).item(), model.elbo(x, mf_mu, cov).item()
    assert log_px - elbo > 0.05  # a real mean-field gap to close
    bounds = [_iw_bound(model, x, mf_mu, cov, k, 4000, seed=k) for k in (1, 4, 16, 64, 256)]
    assert abs(bounds[0][0] - elbo) < 4 * bounds[0][1]
    for (a, sa), (b, sb) in zip(bounds, bounds[1:]):
        assert b > a - 4 * math.hypot(sa, sb)
        assert b <= log_px + 4 * sb
    assert log_px - bounds[-1][0] < 0.1 * (log_px - elbo)


def test_full_covariance_q_at_the_exact_posterior_closes_the_gap():
    model = LinearGaussian.random(latent_dim=3, data_dim=6, variance=0.3, generator=torch.Generator().manual_seed(2))
    _, x = model.sample(1, generator=torch.Generator().manual_seed(3))
    mean, cov = model.posterior(x[0])
    tril = torch.linalg.cholesky(cov)
    assert abs(model.log_evidence(x[0]).item() - model.elbo(x[0], mean, tril @ tril.T).item()) < 1e-9


def _small_vae(seed: int) -> vae_lib.VAE:
    torch.manual_seed(seed)
    return vae_lib.VAE(vae_lib.ModelConfig(input_dim=6, hidden_dim=8, latent_dim=1))


def test_fit_posterior_finds_the_brute_force_optimum_and_leaves_the_decoder_alone():
    model = _small_vae(0).double()
    x = torch.rand(3, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    mu0, logvar0 = (t.detach() for t in model.encode(x))
    fit = eg.fit_posterior(model, x, mu0, logvar0, family="diagonal", steps=600, lr=3e-2, samples=16, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # brute force: the ELBO on a grid of (mu, log sigma^2), each by the same fixed 2,000 draws
    eps = torch.randn(1000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mus, lvs = torch.linspace(-3, 3, 61, dtype=torch.float64), torch.linspace(-6, 1, 36, dtype=torch.float64)
    grid_mu, grid_lv = torch.meshgrid(mus, lvs, indexing="ij")

    def elbo(mu, lv, xn):  # mu, lv: (G,)
        z = mu[:, None] + torch.exp(0.5 * lv)[:, None] * eps[None]  # (G, S)
        with torch.no_grad():
            logits = model.decode(z.reshape(-1, 1)).reshape(*z.shape, 6)
        rec = vae_lib.objectives.log_likelihood(xn.expand(*z.shape, 6).reshape(-1, 6), logits.reshape(-1, 6)).reshape(z.shape)
        return rec.mean(-1) - 0.5 * (mu**2 + lv.exp() - 1 - lv)

    gains = []
    for n in range(x.shape[0]):
        values = elbo(grid_mu.reshape(-1), grid_lv.reshape(-1), x[n])
        best = values.max().item()
        found = elbo(fit.mean[n], 2 * torch.log(fit.scale_tril[n, 0]), x[n]).item()
        assert found > best - 0.02  # as good as the best of the grid (whose spacing only lowers its maximum)
        gains.append(best - elbo(mu0[n], logvar0[n], x[n]).item())
    assert max(gains) > 0.05  # the encoder's start was not already the optimum: the check has teeth
    assert fit.scale_tril.shape == (3, 1, 1) and fit.trace.shape == (600,)


def test_fit_posterior_full_family_is_lower_triangular_and_not_worse():
    model = _small_vae(1)
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(2))
    mu, logvar = (t.detach() for t in model.encode(x))
    full = eg.fit_posterior(model, x, mu, logvar, family="full", steps=50, seed=0)
    assert torch.equal(full.scale_tril, torch.tril(full.scale_tril))
    assert bool((torch.diagonal(full.scale_tril, dim1=-2, dim2=-1) > 0).all())


def test_gap_split_is_the_chapters_measurement_step_by_step():
    """gap_split equals fit_posterior + elbo_estimate + L_k called by hand with its seeds; the gaps add up."""
    model = _small_vae(2).double()
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    fit = dict(steps=40, lr=0.02, samples=2)
    split = eg.gap_split(model, x, **fit, k=700, elbo_samples=50, seed=10)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    diag = eg.fit_posterior(model, x, mu, logvar, family="diagonal", seed=13, **fit)
    full = eg.fit_posterior(model, x, mu, logvar, family="full", seed=13, **fit)
    g1, g2 = (torch.Generator().manual_seed(s) for s in (11, 12))
    with torch.no_grad():
        encoder = eg.elbo_estimate(model, x, mu, fg.diagonal_scale_tril(logvar), 50, g1).mean
        g1.manual_seed(11)
        fitted = eg.elbo_estimate(model, x, diag.mean, diag.scale_tril, 50, g1).mean
        logw = torch.cat([eg.log_weights(model, x, full.mean, full.scale_tril, n, g2) for n in (500, 200)])
    assert torch.equal(split.elbo_encoder, encoder) and torch.equal(split.elbo_fitted, fitted)
    assert torch.equal(split.log_px, eg.iwae_estimate(logw).mean)
    assert torch.allclose(split.approximation + split.amortisation, split.log_px - split.elbo_encoder)
    assert bool((split.amortisation > 0).all())  # the fit improves on the encoder for every image
    with pytest.raises(ValueError, match="k"):
        eg.gap_split(model, x, **fit, k=0, elbo_samples=50)


def test_iwae_objective_is_an_objective_and_k1_is_the_negative_elbo_in_expectation():
    model = _small_vae(2).double()
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    objective = eg.iwae_objective(1)
    assert isinstance(objective, Objective)
    torch.manual_seed(0)
    one = torch.stack([objective(model, x).loss for _ in range(400)]).detach()
    terms = objective(model, x)
    assert isinstance(terms, ElboTerms) and torch.allclose(terms.elbo, -terms.loss)
    torch.manual_seed(0)
    ref = torch.stack([negative_elbo(x, *model(x)).loss for _ in range(400)]).detach()
    se = math.hypot(one.std().item(), ref.std().item()) / math.sqrt(400)
    assert abs(one.mean().item() - ref.mean().item()) < 4 * se
    five = torch.stack([eg.iwae_objective(5)(model, x).loss for _ in range(400)]).detach()
    assert five.mean() < one.mean()  # -L_5 <= -L_1 in expectation
    vae_lib.training.fit(model, eg.iwae_objective(3), x, epochs=1, batch_size=32)  # trains as an Objective


def test_load_reference_vae_verifies_and_loads_the_committed_checkpoint():
    model, history = eg.load_reference_vae()
    assert isinstance(model, vae_lib.VAE) and not model.training
    assert len(history["heldout/loss"]) == vae_lib.training.REFERENCE.epochs
    with pytest.raises(TypeError, match="device"):
        eg.load_reference_vae(device=0)


def test_aggregate_log_density_matches_an_explicit_mixture():
    g = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(7, 3, generator=g, dtype=torch.float64), 0.3 * torch.randn(7, 3, generator=g, dtype=torch.float64)
    z = torch.randn(11, 3, generator=g, dtype=torch.float64)
    comp = MultivariateNormal(mu, torch.diag_embed(logvar.exp())).log_prob(z[:, None, :])  # (11, 7)
    ref = torch.logsumexp(comp, 1) - math.log(7)
    assert torch.allclose(eg.aggregate_log_density(z, mu, logvar, batch_size=4), ref, rtol=0, atol=1e-10)


def test_log_weights_average_to_the_elbo_and_elbo_estimate_agrees():
    model = _small_vae(3).double()
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        tril = fg.diagonal_scale_tril(logvar)
        logw = eg.log_weights(model, x, mu, tril, 20000, torch.Generator().manual_seed(0))
        est = eg.elbo_estimate(model, x, mu, tril, 20000, torch.Generator().manual_seed(1))
    se = logw.std(0) / math.sqrt(20000)
    assert bool(((logw.mean(0) - est.mean).abs() < 4 * torch.hypot(se, est.stderr)).all())
    assert bool((eg.iwae_estimate(logw).mean >= logw.mean(0)).all())  # Jensen


@pytest.mark.parametrize("call, match", [
    (lambda: fg.full_gaussian_log_density(torch.zeros(2), torch.zeros(2), torch.eye(3)), "scale_tril"),
    (lambda: fg.full_gaussian_log_density(torch.zeros(2), torch.zeros(2), torch.ones(2, 2)), "lower triangular"),
    (lambda: fg.full_gaussian_kl_to_standard_normal(torch.zeros(2), -torch.eye(2)), "positive diagonal"),
    (lambda: fg.full_gaussian_kl_to_standard_normal([0.0], torch.eye(1)), "mean"),
    (lambda: fg.diagonal_scale_tril(torch.tensor(1.0)), "logvar"),
    (lambda: fg.scale_tril_from_unconstrained(torch.zeros(2, 3)), "raw"),
    (lambda: eg.iwae_estimate(torch.zeros(1, 3)), "logw"),
    (lambda: eg.iwae_objective(0), "k"),
    (lambda: eg.aggregate_log_density(torch.zeros(2, 3), torch.zeros(4, 2), torch.zeros(4, 2)), "J"),
    (lambda: eg.fit_posterior(object(), torch.zeros(1, 6), torch.zeros(1, 1), torch.zeros(1, 1)), "model"),
    (lambda: eg.fit_posterior(_small_vae(0), torch.zeros(1, 6), torch.zeros(1, 1), torch.zeros(1, 1),
                              family="banded"), "family"),
    (lambda: eg.fit_posterior(_small_vae(0), torch.zeros(1, 6), torch.zeros(1, 1), torch.zeros(1, 1), steps=0), "steps"),
    (lambda: eg.log_weights(_small_vae(0), torch.zeros(2, 6), torch.zeros(1, 1), torch.eye(1)[None], 3), "same B"),
    (lambda: eg.elbo_estimate(_small_vae(0), torch.zeros(1, 6), torch.zeros(1, 1), torch.eye(1)[None], 1), "samples"),
])
def test_bad_input_is_refused_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
