"""The linear-Gaussian model of chapter 4 against independent references.

References: torch.distributions (MultivariateNormal, Normal, kl_divergence), Gaussian
conditioning by the Schur complement (a different formula from the module's), brute-force
grid quadrature of the defining integrals, and Monte Carlo with a 5-standard-error tolerance
(a false alarm has probability below 1e-6 per comparison; the seeds are fixed anyway).
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import vae_lib.chapters.bayes_rewrite as br
import vae_lib.chapters.linear_gaussian as lg
from vae_lib import reparameterize
from vae_lib.divergences import kl_diag_gaussian_to_standard_normal

F64 = torch.float64


@pytest.fixture
def case():
    """The chapter's set-up: J = 2, D = 5, s = 0.5, three data points and an arbitrary diagonal q."""
    g = torch.Generator().manual_seed(1)
    model = lg.LinearGaussian.random(2, 5, 0.25, generator=g)
    _, x = model.sample(3, generator=g)
    mu = torch.tensor([0.5, -0.3], dtype=F64)
    logvar = torch.tensor([-2.5, -1.5], dtype=F64)
    return model, x, mu, logvar


def _conditioning(model: lg.LinearGaussian, x):
    """Posterior of z given x from the joint Gaussian of (z, x), by the Schur complement."""
    w, c = model.weight, model.evidence_covariance()
    gain = torch.linalg.solve(c, w).T  # W^T C^{-1}, (J, D)
    return (x - model.bias) @ gain.T, torch.eye(model.latent_dim, dtype=F64) - gain @ w


def _quadrature_rule(model, x, mean, cov, n_points=201):
    """Grid rule for integrals against q = N(mean, cov): weights already include q(z)."""
    nodes, cell = lg.grid_rule(mean, torch.diagonal(cov).sqrt(), n_points)
    return nodes, cell * lg.gaussian_log_density(nodes, mean, cov).exp()


def test_prior_and_likelihood_match_torch_distributions(case):
    model, x, _, _ = case
    z = torch.randn(7, 1, 2, dtype=F64)  # broadcasts against x (3, 5)
    prior = MultivariateNormal(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64))
    assert torch.allclose(model.log_prior(z), prior.log_prob(z), atol=1e-12)
    ref = Normal(z @ model.weight.T + model.bias, math.sqrt(model.variance)).log_prob(x).sum(-1)
    assert model.log_likelihood(x, z).shape == (7, 3)
    assert torch.allclose(model.log_likelihood(x, z), ref, atol=1e-10)


def test_log_evidence_matches_multivariate_normal(case):
    model, x, _, _ = case
    c = model.weight @ model.weight.T + model.variance * torch.eye(5, dtype=F64)
    ref = MultivariateNormal(model.bias, covariance_matrix=c).log_prob(x)
    assert torch.allclose(model.log_evidence(x), ref, atol=1e-10)


def test_log_evidence_matches_quadrature_of_the_joint(case):
    """p(x) = int p(x|z) p(z) dz on a grid, without any Gaussian algebra."""
    model, x, _, _ = case
    for xi in x:
        nodes, cell = lg.grid_rule(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64), 801, 8.0)
        p_x = (cell * model.log_joint(xi, nodes).exp()).sum()
        assert abs(torch.log(p_x).item() - model.log_evidence(xi).item()) < 1e-8


def test_posterior_matches_gaussian_conditioning_and_bayes_rule(case):
    model, x, _, _ = case
    mean, cov = model.posterior(x)
    ref_mean, ref_cov = _conditioning(model, x)
    assert torch.allclose(mean, ref_mean, atol=1e-10)
    assert torch.allclose(cov, ref_cov, atol=1e-10)
    z = torch.randn(11, 1, 2, dtype=F64)
    post = MultivariateNormal(ref_mean, covariance_matrix=ref_cov).log_prob(z)
    assert torch.allclose(model.log_posterior(x, z), post, atol=1e-9)
    # eq. bayes-posterior, pointwise
    assert torch.allclose(post, model.log_joint(x, z) - model.log_evidence(x), atol=1e-9)


def test_gaussian_helpers_match_torch_distributions():
    a = torch.randn(4, 3, 3, dtype=F64)
    cov_q = a @ a.transpose(-1, -2) + 0.3 * torch.eye(3, dtype=F64)
    b = torch.randn(3, 3, dtype=F64)
    cov_p = b @ b.T + 0.5 * torch.eye(3, dtype=F64)
    m_q, m_p, z = torch.randn(4, 3, dtype=F64), torch.randn(3, dtype=F64), torch.randn(4, 3, dtype=F64)
    q, p = MultivariateNormal(m_q, cov_q), MultivariateNormal(m_p, cov_p)
    assert torch.allclose(lg.gaussian_log_density(z, m_q, cov_q), q.log_prob(z), atol=1e-10)
    assert torch.allclose(lg.gaussian_negative_entropy(m_q, cov_q), -q.entropy(), atol=1e-10)
    assert torch.allclose(lg.gaussian_kl(m_q, cov_q, m_p, cov_p), kl_divergence(q, p), atol=1e-9)
    std = MultivariateNormal(torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64))
    assert torch.allclose(lg.gaussian_kl(m_q, cov_q, torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64)),
                          kl_divergence(q, std), atol=1e-9)


def test_integral_terms_match_quadrature(case):
    model, x, mu, logvar = case
    cov = lg.diag_cov(logvar)
    nodes, w = _quadrature_rule(model, x[0], mu, cov)
    assert abs(w.sum().item() - 1.0) < 1e-10  # int q dz
    log_q = lg.gaussian_log_density(nodes, mu, cov)
    assert abs((w * log_q).sum() - lg.gaussian_negative_entropy(mu, cov)) < 1e-9
    assert abs((w * model.log_prior(nodes)).sum() - lg.standard_normal_cross_term(mu, cov)) < 1e-9
    ell = (w * model.log_likelihood(x[0], nodes)).sum()
    assert abs(ell - model.expected_log_likelihood(x[0], mu, cov)) < 1e-8


def test_diagonal_kl_to_prior_matches_the_closed_form_of_objectives(case):
    _, _, mu, logvar = case
    kl = lg.gaussian_kl(mu, lg.diag_cov(logvar), torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64))
    assert abs(kl - kl_diag_gaussian_to_standard_normal(mu, logvar)) < 1e-12


def test_expected_log_likelihood_gradient_matches_autograd(case):
    model, x, mu, logvar = case
    m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    g_mu, g_lv = torch.autograd.grad(model.expected_log_likelihood(x[1], m, lg.diag_cov(lv)), (m, lv))
    exact_mu, exact_lv = model.expected_log_likelihood_gradient(x[1], mu, logvar)
    assert torch.allclose(exact_mu, g_mu, atol=1e-10) and torch.allclose(exact_lv, g_lv, atol=1e-10)


def _reference_kl(model, x, mu, cov):
    ref_mean, ref_cov = _conditioning(model, x)
    return kl_divergence(MultivariateNormal(mu, cov), MultivariateNormal(ref_mean, ref_cov))


def test_rewrite_chain_closed_form_every_line_equals_the_kl(case):
    model, x, mu, logvar = case
    cov = lg.diag_cov(logvar)
    lines = br.rewrite_chain_closed_form(model, x[0], mu, cov)
    assert tuple(lines) == br.REWRITE_LINES
    ref = _reference_kl(model, x[0], mu, cov)
    for label, value in lines.items():
        assert abs(value - ref) < 1e-9, label


def test_rewrite_chain_by_quadrature(case):
    model, x, mu, logvar = case
    cov = lg.diag_cov(logvar)
    nodes, w = _quadrature_rule(model, x[0], mu, cov)
    ref = _reference_kl(model, x[0], mu, cov)
    for label, contrib in br.rewrite_chain_contributions(model, x[0], mu, cov, nodes, w).items():
        assert abs(contrib.sum() - ref) < 1e-8, label


def test_rewrite_chain_by_monte_carlo_within_five_standard_errors(case):
    model, x, mu, logvar = case
    cov = lg.diag_cov(logvar)
    n = 100_000
    z = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), torch.Generator().manual_seed(3))
    ref = _reference_kl(model, x[0], mu, cov)
    lines = br.rewrite_chain_contributions(model, x[0], mu, cov, z, torch.full((n,), 1.0 / n, dtype=F64))
    for label, contrib in lines.items():
        se = (n * contrib).std() / math.sqrt(n)
        assert 0 < se < 0.1 and abs(contrib.sum() - ref) < 5 * se, label


def test_evidence_decomposition_and_tightness(case):
    model, x, mu, logvar = case
    full = torch.tensor([[0.3, 0.1], [0.1, 0.2]], dtype=F64)
    for cov in (lg.diag_cov(logvar), full):
        # eq. evidence-decomposition, for every data point at once
        total = model.elbo(x, mu, cov) + model.kl_to_posterior(x, mu, cov)
        assert torch.allclose(total, model.log_evidence(x), atol=1e-10)
        assert bool((model.elbo(x, mu, cov) < model.log_evidence(x)).all())
    post_mean, post_cov = model.posterior(x)
    assert torch.allclose(model.elbo(x, post_mean, post_cov), model.log_evidence(x), atol=1e-10)
    assert torch.allclose(model.kl_to_posterior(x, post_mean, post_cov), torch.zeros(3, dtype=F64), atol=1e-10)


def test_mean_field_optimum_is_the_best_diagonal_q(case):
    model, x, _, _ = case
    mu, logvar = model.mean_field_optimum(x[0])
    m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    kl = model.kl_to_posterior(x[0], m, lg.diag_cov(lv))
    grads = torch.autograd.grad(kl, (m, lv))
    assert all(g.abs().max() < 1e-10 for g in grads)  # a stationary point ...
    for _ in range(20):  # ... and a minimum: every perturbation raises the KL
        d_mu, d_lv = 0.05 * torch.randn(2, dtype=F64), 0.05 * torch.randn(2, dtype=F64)
        assert model.kl_to_posterior(x[0], mu + d_mu, lg.diag_cov(logvar + d_lv)) > kl
    assert kl > 1e-6  # W's columns are not orthogonal: the posterior is correlated


def test_jensen_importance_weights(case):
    """E_q[p(x,z)/q(z)] = p(x) and E_q[log p(x,z)/q(z)] = ELBO, by Monte Carlo."""
    model, x, mu, logvar = case
    post_mean, _ = model.posterior(x[0])
    mu = post_mean.detach()  # a q near the posterior keeps the weights' variance modest
    cov, n = lg.diag_cov(logvar), 200_000
    z = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), torch.Generator().manual_seed(4))
    log_w = model.log_joint(x[0], z) - lg.gaussian_log_density(z, mu, cov)
    ratio = (log_w - model.log_evidence(x[0])).exp()  # w / p(x), mean 1
    assert abs(ratio.mean() - 1) < 5 * ratio.std() / math.sqrt(n)
    assert abs(log_w.mean() - model.elbo(x[0], mu, cov)) < 5 * log_w.std() / math.sqrt(n)


def test_grid_rule_integrates_a_gaussian():
    nodes, w = lg.grid_rule(torch.tensor([1.0], dtype=F64), torch.tensor([2.0], dtype=F64), 101, 9.0)
    density = Normal(torch.tensor(1.0, dtype=F64), torch.tensor(2.0, dtype=F64)).log_prob(nodes[:, 0]).exp()
    assert abs((w * density).sum() - 1) < 1e-12
    assert abs((w * density * nodes[:, 0] ** 2).sum() - 5.0) < 1e-10  # E[z^2] = 1 + 4


def test_bad_inputs_are_named():
    w = torch.randn(5, 2, dtype=F64)
    with pytest.raises(ValueError, match="weight"):
        lg.LinearGaussian(torch.randn(5, dtype=F64), torch.zeros(5, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="bias"):
        lg.LinearGaussian(w, torch.zeros(4, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="variance"):
        lg.LinearGaussian(w, torch.zeros(5, dtype=F64), 0.0)
    model = lg.LinearGaussian(w, torch.zeros(5, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        model.log_evidence(torch.zeros(4, dtype=F64))
    with pytest.raises(TypeError, match="z must have the model's dtype"):
        model.log_prior(torch.zeros(2))
    with pytest.raises(ValueError, match="cov must be positive definite"):
        model.elbo(torch.zeros(5, dtype=F64), torch.zeros(2, dtype=F64), -torch.eye(2, dtype=F64))
    with pytest.raises(ValueError, match="cov must have shape"):
        model.elbo(torch.zeros(5, dtype=F64), torch.zeros(2, dtype=F64), torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match="J <= 3"):
        lg.grid_rule(torch.zeros(4, dtype=F64), torch.ones(4, dtype=F64))
    with pytest.raises(ValueError, match="nodes must be"):
        br.rewrite_chain_contributions(model, torch.zeros(5, dtype=F64), torch.zeros(2, dtype=F64),
                                       torch.eye(2, dtype=F64), torch.zeros(3, 2, dtype=F64),
                                       torch.ones(4, dtype=F64))


def test_mean_field_gap_for_two_latents_depends_on_the_correlation_alone(case):
    """eq. mean-field-gap: for J = 2 the best diagonal q falls -log(1 - rho^2)/2 short of log p(x)."""
    model, x, _, _ = case
    _, post_cov = model.posterior(x[0])
    rho = post_cov[0, 1] / post_cov.diagonal().prod().sqrt()
    mu, logvar = model.mean_field_optimum(x[0])
    gap = model.log_evidence(x[0]) - model.elbo(x[0], mu, lg.diag_cov(logvar))
    assert abs(gap + 0.5 * torch.log(1 - rho**2)) < 1e-10
    precision = torch.linalg.inv(post_cov)
    general = 0.5 * (torch.log(precision.diagonal()).sum() - torch.logdet(precision))
    assert abs(gap - general) < 1e-10


def test_evidence_explorer_frames_split_log_evidence_into_elbo_and_kl():
    import matplotlib

    matplotlib.use("Agg")
    from vae_lib.chapters import bayes_rewrite as br

    g = torch.Generator().manual_seed(11)
    model = lg.LinearGaussian.random(2, 5, variance=0.25, generator=g)
    _, x = model.sample(1, generator=g)
    mu, logvar = model.mean_field_optimum(x[0])
    explorer = br.evidence_explorer(model, x[0], mu, logvar)
    d = explorer.data
    post_mean, post_cov = model.posterior(x[0])
    assert d["post_mean"] == pytest.approx(post_mean.tolist(), rel=1e-11)
    assert d["post_cov"] == pytest.approx([post_cov[0, 0].item(), post_cov[0, 1].item(), post_cov[1, 1].item()], rel=1e-11)
    assert d["log_px"] == pytest.approx(model.log_evidence(x[0]).item(), rel=1e-11)
    # what the page computes, log p(x) - KL(q || p(z|x)) in closed form, is the model's ELBO
    q_mu, q_cov = mu + torch.tensor([0.3, 0.0], dtype=torch.float64), lg.diag_cov(logvar - 0.75)
    kl = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(q_mu, q_cov),
                                           torch.distributions.MultivariateNormal(post_mean, post_cov))
    assert d["log_px"] - kl.item() == pytest.approx(model.elbo(x[0], q_mu, q_cov).item(), abs=1e-9)
    worst = -model.elbo(x[0], mu + torch.tensor([0.6, 0.0], dtype=torch.float64), lg.diag_cov(logvar - 1.5)).item()
    assert d["y_max"] >= worst  # the bar's axis holds every q of the sliders
    with pytest.raises(ValueError, match="mu and logvar must have shape"):
        br.evidence_explorer(model, x[0], mu[:1], logvar[:1])


def test_cavi_climbs_to_the_mean_field_optimum():
    """eq. mean-field-gaussian-update cycled (CAVI): the ELBO never decreases and the fixed point is eq. mean-field-optimum."""
    gen = torch.Generator().manual_seed(5)
    model = lg.LinearGaussian.random(3, 6, variance=0.3, generator=gen)
    _, x = model.sample(1, generator=gen)
    mf_mu, mf_logvar = model.mean_field_optimum(x[0])
    path = model.cavi(x[0], torch.full((3,), 2.0, dtype=torch.float64), sweeps=200)
    elbo = torch.stack([model.elbo(x[0], m, lg.diag_cov(mf_logvar)) for m in path])
    assert bool((elbo[1:] >= elbo[:-1] - 1e-12).all())
    assert torch.allclose(path[-1], mf_mu, atol=1e-9)
    with pytest.raises(ValueError, match="sweeps"):
        model.cavi(x[0], mf_mu, sweeps=0)
