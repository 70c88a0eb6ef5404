"""Reparameterised and score-function gradient estimators against exact gradients.

Exact gradients come from closed-form expectations differentiated by autograd (and,
for the linear-Gaussian model, from the analytic formula). Monte Carlo comparisons
use 5 standard errors with fixed seeds.
"""
from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

import vae_lib.chapters.gradients as gr
import vae_lib.chapters.linear_gaussian as lg
from vae_lib.divergences import kl_diag_gaussian_to_standard_normal, mc_estimate

F64 = torch.float64
MU = torch.tensor([0.5, -0.3], dtype=F64)
LOGVAR = torch.tensor([-2.5, -1.5], dtype=F64)
A = torch.tensor([1.0, 0.5], dtype=F64)


def _quadratic(z):
    return (z - A).pow(2).sum(-1)


def _exact_gradient(expectation, mu, logvar):
    m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    return torch.autograd.grad(expectation(m, lv), (m, lv))


@pytest.fixture
def model_and_x():
    g = torch.Generator().manual_seed(1)
    model = lg.LinearGaussian.random(2, 5, 0.25, generator=g)
    _, x = model.sample(1, generator=g)
    return model, x[0]


def test_quadratic_expectation_matches_quadrature():
    nodes, cell = lg.grid_rule(MU, LOGVAR.mul(0.5).exp(), 201)
    w = cell * lg.gaussian_log_density(nodes, MU, lg.diag_cov(LOGVAR)).exp()
    assert abs((w * _quadratic(nodes)).sum() - gr.quadratic_expectation(MU, LOGVAR, A)) < 1e-10
    g_mu, g_lv = _exact_gradient(lambda m, lv: gr.quadratic_expectation(m, lv, A), MU, LOGVAR)
    assert torch.allclose(g_mu, 2 * (MU - A)) and torch.allclose(g_lv, LOGVAR.exp())


def test_score_matches_autograd_of_normal_log_prob():
    z = torch.randn(6, 2, dtype=F64)
    score = gr.diag_gaussian_score(z, MU, LOGVAR)
    for s in range(6):
        m, lv = MU.clone().requires_grad_(True), LOGVAR.clone().requires_grad_(True)
        lp = Normal(m, torch.exp(0.5 * lv)).log_prob(z[s]).sum()
        g_mu, g_lv = torch.autograd.grad(lp, (m, lv))
        assert torch.allclose(score.mu[s], g_mu, atol=1e-12) and torch.allclose(score.logvar[s], g_lv, atol=1e-12)


def test_reparameterised_single_samples_follow_the_chain_rule():
    g = gr.reparameterised_gradients(_quadratic, MU, LOGVAR, 50, torch.Generator().manual_seed(5))
    eps = torch.randn(50, 2, dtype=F64, generator=torch.Generator().manual_seed(5))
    sigma = LOGVAR.mul(0.5).exp()
    z = MU + sigma * eps
    assert torch.allclose(g.mu, 2 * (z - A), atol=1e-12)  # df/dz * dz/dmu
    assert torch.allclose(g.logvar, 2 * (z - A) * eps * sigma / 2, atol=1e-12)  # df/dz * dz/dlogvar


def test_score_function_single_samples_weight_the_score_by_f():
    g = gr.score_function_gradients(_quadratic, MU, LOGVAR, 50, torch.Generator().manual_seed(5), baseline=0.7)
    eps = torch.randn(50, 2, dtype=F64, generator=torch.Generator().manual_seed(5))
    z = MU + LOGVAR.mul(0.5).exp() * eps
    weight = (_quadratic(z) - 0.7)[:, None]
    assert torch.allclose(g.mu, weight * eps / LOGVAR.mul(0.5).exp(), atol=1e-12)  # eps_j / sigma_j
    assert torch.allclose(g.logvar, weight * 0.5 * (eps**2 - 1), atol=1e-12)  # (eps_j^2 - 1) / 2


@pytest.mark.parametrize("estimator", ["reparameterised", "score-function"])
def test_estimators_are_unbiased_for_a_quadratic(estimator):
    fn = gr.reparameterised_gradients if estimator == "reparameterised" else gr.score_function_gradients
    samples = fn(_quadratic, MU, LOGVAR, 200_000, torch.Generator().manual_seed(6))
    exact = _exact_gradient(lambda m, lv: gr.quadratic_expectation(m, lv, A), MU, LOGVAR)
    for est, ref in zip(samples, exact):
        s = mc_estimate(est)
        assert bool(((s.mean - ref).abs() < 5 * s.stderr).all())


@pytest.mark.parametrize("estimator", ["reparameterised", "score-function"])
def test_estimators_are_unbiased_for_the_linear_gaussian_likelihood(estimator, model_and_x):
    model, x = model_and_x
    fn = gr.reparameterised_gradients if estimator == "reparameterised" else gr.score_function_gradients
    samples = fn(lambda z: model.log_likelihood(x, z), MU, LOGVAR, 200_000, torch.Generator().manual_seed(7))
    exact = model.expected_log_likelihood_gradient(x, MU, LOGVAR)
    for est, ref in zip(samples, exact):
        s = mc_estimate(est)
        assert bool(((s.mean - ref).abs() < 5 * s.stderr).all())


def test_baseline_keeps_the_score_function_unbiased_and_lowers_its_variance(model_and_x):
    model, x = model_and_x
    f = lambda z: model.log_likelihood(x, z)  # noqa: E731
    oracle = model.expected_log_likelihood(x, MU, lg.diag_cov(LOGVAR)).item()
    plain = gr.score_function_gradients(f, MU, LOGVAR, 100_000, torch.Generator().manual_seed(8))
    based = gr.score_function_gradients(f, MU, LOGVAR, 100_000, torch.Generator().manual_seed(8), baseline=oracle)
    exact = model.expected_log_likelihood_gradient(x, MU, LOGVAR)
    for p, b, ref in zip(plain, based, exact):
        sp, sb = mc_estimate(p), mc_estimate(b)
        assert bool(((sb.mean - ref).abs() < 5 * sb.stderr).all())
        assert bool((sb.variance < sp.variance).all())


def test_reparameterised_variance_is_lower_here(model_and_x):
    model, x = model_and_x
    f = lambda z: model.log_likelihood(x, z)  # noqa: E731
    rep = gr.reparameterised_gradients(f, MU, LOGVAR, 50_000, torch.Generator().manual_seed(9))
    sf = gr.score_function_gradients(f, MU, LOGVAR, 50_000, torch.Generator().manual_seed(9))
    for r, s in zip(rep, sf):
        assert bool((mc_estimate(r).variance < mc_estimate(s).variance).all())


def test_mc_estimate_of_gradient_samples():
    samples = torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]], dtype=F64)
    s = mc_estimate(samples)
    assert torch.allclose(s.mean, torch.tensor([3.0, 2.0], dtype=F64))
    assert torch.allclose(s.variance, torch.tensor([4.0, 0.0], dtype=F64))
    assert torch.allclose(s.stderr, torch.tensor([(4 / 3) ** 0.5, 0.0], dtype=F64))


def test_ascent_with_reparameterised_gradients_reaches_the_mean_field_optimum(model_and_x):
    model, x = model_and_x
    mus, logvars = gr.ascend_elbo(lambda z: model.log_likelihood(x, z), torch.zeros(2, dtype=F64),
                                  torch.zeros(2, dtype=F64), estimator="reparameterised", steps=600, lr=0.008,
                                  n_samples=4, generator=torch.Generator().manual_seed(10))
    assert mus.shape == (601, 2) and logvars.shape == (601, 2)
    opt_mu, opt_logvar = model.mean_field_optimum(x)
    # Polyak average of the last iterates: the noise of constant-step SGD averages out
    assert torch.allclose(mus[-300:].mean(0), opt_mu, atol=0.03)
    assert torch.allclose(logvars[-300:].mean(0), opt_logvar, atol=0.2)
    elbo = model.elbo(x, mus, lg.diag_cov(logvars))
    best = model.elbo(x, opt_mu, lg.diag_cov(opt_logvar))
    assert elbo[0] < best - 5 and abs(elbo[-300:].mean() - best) < 0.1


def test_ascent_reports_divergence(model_and_x):
    model, x = model_and_x
    with pytest.raises(RuntimeError, match="diverged"):
        gr.ascend_elbo(lambda z: model.log_likelihood(x, z), torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64),
                       estimator="score-function", steps=200, lr=0.5, n_samples=2,
                       generator=torch.Generator().manual_seed(11))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="f must map"):
        gr.reparameterised_gradients(lambda z: z, MU, LOGVAR, 10)
    with pytest.raises(TypeError, match="f must be a callable"):
        gr.score_function_gradients(3.0, MU, LOGVAR, 10)
    with pytest.raises(ValueError, match="n_samples"):
        gr.score_function_gradients(_quadratic, MU, LOGVAR, 0)
    with pytest.raises(ValueError, match="shape \\(J,\\)"):
        gr.reparameterised_gradients(_quadratic, MU[None], LOGVAR[None], 10)
    with pytest.raises(ValueError, match="logvar has shape"):
        gr.reparameterised_gradients(_quadratic, MU, LOGVAR[:1], 10)
    with pytest.raises(ValueError, match="baseline"):
        gr.score_function_gradients(_quadratic, MU, LOGVAR, 10, baseline=float("nan"))
    with pytest.raises(ValueError, match="estimator"):
        gr.ascend_elbo(_quadratic, MU, LOGVAR, estimator="reinforce", steps=1, lr=0.1, n_samples=2)
    with pytest.raises(ValueError, match="samples"):
        mc_estimate(torch.zeros(1, 2, dtype=F64))


def test_ascent_without_data_term_returns_to_the_prior():
    """With f = 0 the ELBO is -KL(q || N(0, I)): its exact KL gradient must lead q back to the prior."""
    mus, logvars = gr.ascend_elbo(lambda z: 0.0 * z.sum(-1), torch.tensor([1.0, -1.0], dtype=F64),
                                  torch.tensor([-1.0, 1.0], dtype=F64), estimator="reparameterised", steps=400,
                                  lr=0.05, n_samples=2, generator=torch.Generator().manual_seed(12))
    assert torch.allclose(mus[-1], torch.zeros(2, dtype=F64), atol=1e-3)
    assert torch.allclose(logvars[-1], torch.zeros(2, dtype=F64), atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chapter_4_variance_ordering_holds_for_other_sampling_seeds(seed):
    """Chapter 4's claim, score function > score + baseline > reparameterised, on its model with fresh draws."""
    g = torch.Generator().manual_seed(11)  # the chapter's model and data point, drawn as the chapter draws them
    model = lg.LinearGaussian.random(2, 5, variance=0.25, generator=g)
    _, x = model.sample(1, generator=g)
    mu = torch.tensor([0.5, -0.3], dtype=torch.float64)
    logvar = torch.tensor([-2.5, -1.5], dtype=torch.float64)
    f = lambda z: model.log_likelihood(x[0], z)  # noqa: E731
    baseline = model.expected_log_likelihood(x[0], mu, lg.diag_cov(logvar)).item()
    draws = torch.Generator().manual_seed(100 + seed)
    variance = {name: mc_estimate(torch.cat(grads, dim=1)).variance for name, grads in [
        ("rep", gr.reparameterised_gradients(f, mu, logvar, 20_000, draws)),
        ("sf", gr.score_function_gradients(f, mu, logvar, 20_000, draws)),
        ("sfb", gr.score_function_gradients(f, mu, logvar, 20_000, draws, baseline=baseline))]}
    assert bool((variance["sfb"] > variance["rep"]).all() and (variance["sf"] > variance["sfb"]).all())


def test_optimal_baseline_matches_its_closed_form():
    """f = z_1^2: gamma = mu_1^2 + 3 sigma_1^2 (mu_1), mu_1^2 + 5 sigma_1^2 (logvar_1), E f = mu_1^2 + sigma_1^2 (unit 2)."""
    var = LOGVAR.exp()
    gamma = gr.optimal_baseline(lambda z: z[:, 0].pow(2), MU, LOGVAR, 400_000, torch.Generator().manual_seed(13))
    expected_mu = torch.tensor([MU[0] ** 2 + 3 * var[0], MU[0] ** 2 + var[0]], dtype=F64)
    expected_logvar = torch.tensor([MU[0] ** 2 + 5 * var[0], MU[0] ** 2 + var[0]], dtype=F64)
    assert torch.allclose(gamma.mu, expected_mu, rtol=0.03) and torch.allclose(gamma.logvar, expected_logvar, rtol=0.03)


def test_optimal_baseline_is_unbiased_and_no_worse_than_the_mean(model_and_x):
    model, x = model_and_x
    f = lambda z: model.log_likelihood(x, z)  # noqa: E731
    gamma = gr.optimal_baseline(f, MU, LOGVAR, 20_000, torch.Generator().manual_seed(14))
    oracle = model.expected_log_likelihood(x, MU, lg.diag_cov(LOGVAR)).item()
    best = gr.score_function_gradients(f, MU, LOGVAR, 100_000, torch.Generator().manual_seed(15), baseline=gamma)
    mean = gr.score_function_gradients(f, MU, LOGVAR, 100_000, torch.Generator().manual_seed(15), baseline=oracle)
    for b, m, ref in zip(best, mean, model.expected_log_likelihood_gradient(x, MU, LOGVAR)):
        sb = mc_estimate(b)
        assert bool(((sb.mean - ref).abs() < 5 * sb.stderr).all())
        assert bool((sb.variance <= mc_estimate(m).variance * 1.001).all())
    with pytest.raises(ValueError, match="baseline.mu must have shape"):
        gr.score_function_gradients(f, MU, LOGVAR, 10, baseline=gr.GradientSamples(gamma.mu[:1], gamma.logvar))


@pytest.mark.parametrize("kl", gr.KL_TERMS)
def test_both_elbo_estimators_are_unbiased_for_value_and_gradient(model_and_x, kl):
    model, x = model_and_x
    values, grads = gr.elbo_estimates(lambda z: model.log_likelihood(x, z), MU, LOGVAR, 100_000,
                                      torch.Generator().manual_seed(16), kl=kl)
    m, lv = MU.clone().requires_grad_(True), LOGVAR.clone().requires_grad_(True)
    elbo = model.elbo(x, m, lg.diag_cov(lv))
    exact = torch.autograd.grad(elbo, (m, lv))
    assert abs(values.mean() - elbo.detach()) < 5 * values.std() / 100_000 ** 0.5
    for est, ref in zip(grads, exact):
        s = mc_estimate(est)
        assert bool(((s.mean - ref).abs() < 5 * s.stderr).all())


def test_elbo_estimators_share_their_draws_and_differ_only_in_the_kl_term(model_and_x):
    model, x = model_and_x
    f = lambda z: model.log_likelihood(x, z)  # noqa: E731
    a, _ = gr.elbo_estimates(f, MU, LOGVAR, 1000, torch.Generator().manual_seed(17), kl="analytic")
    s, _ = gr.elbo_estimates(f, MU, LOGVAR, 1000, torch.Generator().manual_seed(17), kl="sampled")
    z = MU + LOGVAR.mul(0.5).exp() * torch.randn(1000, 2, dtype=F64, generator=torch.Generator().manual_seed(17))
    log_ratio = Normal(0.0, 1.0).log_prob(z).sum(-1) - Normal(MU, LOGVAR.mul(0.5).exp()).log_prob(z).sum(-1)
    assert torch.allclose(s - a, log_ratio + kl_diag_gaussian_to_standard_normal(MU, LOGVAR), atol=1e-10)
    with pytest.raises(ValueError, match="kl"):
        gr.elbo_estimates(f, MU, LOGVAR, 10, kl="exact")
