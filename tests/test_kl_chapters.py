"""Every identity that chapters 3 (KL divergence) and 5 (closed-form KL) state and check.

References are independent of the code under test: SciPy (rel_entr, entropy, quad, norm),
``torch.distributions``, hand-derived values, and Monte Carlo with a stated tolerance
(4 standard errors: a correct estimator fails one such check with probability ~6e-5).
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
import torch
import torch.distributions as dist

from vae_lib.chapters import closed_form_kl, kl_fits
from vae_lib.divergences import (
    kl_diag_gaussian_to_standard_normal,
    kl_diag_gaussians,
    kl_discrete,
    kl_monte_carlo,
    kl_quadrature,
)

F64 = torch.float64
TARGET = kl_fits.GaussianMixture1D(weights=(0.4, 0.6), means=(-2.0, 2.0), stds=(0.6, 0.6))  # chapter 3's target


def t64(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def mixture_pdf(x: float, target: kl_fits.GaussianMixture1D = TARGET) -> float:
    """SciPy's version of eq. mixture-density, independent of GaussianMixture1D.log_prob."""
    return sum(w * scipy.stats.norm.pdf(x, m, s) for w, m, s in zip(target.weights, target.means, target.stds))


def quad(f, a=-np.inf, b=np.inf) -> float:
    return scipy.integrate.quad(f, a, b, limit=200, epsabs=1e-12, epsrel=1e-12)[0]


@pytest.fixture(scope="module")
def reverse_fits() -> tuple[kl_fits.GaussianFit, kl_fits.GaussianFit]:
    left = kl_fits.fit_gaussian(TARGET, "reverse", mu0=-1.0, logvar0=0.0, steps=300, lr=0.2)
    right = kl_fits.fit_gaussian(TARGET, "reverse", mu0=1.0, logvar0=0.0, steps=300, lr=0.2)
    return left, right


# --- Chapter 3: discrete ----------------------------------------------------------------


def test_discrete_example_costs_a_quarter_bit():
    p, q = t64(0.5, 0.25, 0.125, 0.125), t64(0.25, 0.25, 0.25, 0.25)
    kl = float(kl_discrete(p, q))  # eq. kl-discrete
    assert kl == pytest.approx(0.25 * math.log(2), abs=1e-15)  # 2 bits - 1.75 bits, by hand
    assert kl == pytest.approx(float(scipy.special.rel_entr(p.numpy(), q.numpy()).sum()), abs=1e-14)
    assert kl == pytest.approx(float(scipy.stats.entropy(p.numpy(), q.numpy())), abs=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_is_cross_entropy_minus_entropy(seed):
    g = torch.Generator().manual_seed(seed)
    p, q = (torch.rand(50, 6, generator=g, dtype=F64) + 1e-3 for _ in range(2))
    p, q = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
    cross, entropy = -(p * q.log()).sum(-1), -(p * p.log()).sum(-1)
    torch.testing.assert_close(kl_discrete(p, q), cross - entropy, rtol=0, atol=1e-13)  # eq. kl-entropy-decomposition
    torch.testing.assert_close(kl_discrete(p, q), torch.from_numpy(scipy.stats.entropy(p.numpy(), q.numpy(), axis=-1)),
                               rtol=0, atol=1e-13)


def test_discrete_conventions_match_scipy():
    p0, q0 = t64(0.5, 0.5, 0.0), t64(0.25, 0.25, 0.5)
    assert float(kl_discrete(p0, q0)) == pytest.approx(math.log(2), abs=1e-15)
    assert float(kl_discrete(p0, q0)) == pytest.approx(scipy.stats.entropy(p0.numpy(), q0.numpy()), abs=1e-15)
    assert math.isinf(float(kl_discrete(q0, p0))) and math.isinf(scipy.stats.entropy(q0.numpy(), p0.numpy()))


# --- Chapter 3: continuous ----------------------------------------------------------------


def _kl_mixture_to_broad_scipy() -> float:
    q_pdf = lambda x: scipy.stats.norm.pdf(x, 0.0, 2.0)  # noqa: E731
    return quad(lambda x: mixture_pdf(x) * (math.log(mixture_pdf(x)) - math.log(q_pdf(x))), -20, 20)


def test_continuous_kl_trapezoid_agrees_with_scipy_quad():
    log_q = lambda x: closed_form_kl.normal_log_prob(x, 0.0, math.log(4.0))  # noqa: E731
    kl_trap = float(kl_quadrature(TARGET.log_prob, log_q, -12.0, 12.0, n_points=1201))  # eq. kl-continuous
    assert kl_trap == pytest.approx(_kl_mixture_to_broad_scipy(), abs=1e-9)
    assert float(kl_fits.kl_to_gaussian(TARGET, 0.0, math.log(4.0), "forward")) == pytest.approx(kl_trap, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_continuous_kl_monte_carlo_within_four_standard_errors(seed):
    x = TARGET.sample(200_000, generator=torch.Generator().manual_seed(seed))
    log_p, log_q = TARGET.log_prob(x), closed_form_kl.normal_log_prob(x, 0.0, math.log(4.0))
    est = closed_form_kl.mc_estimate(log_p - log_q)
    assert float(kl_monte_carlo(log_p, log_q)) == pytest.approx(float(est.mean), abs=1e-12)
    assert float(est.z_score(_kl_mixture_to_broad_scipy())) < 4


def test_binned_kl_rises_to_the_continuous_kl():
    exact = _kl_mixture_to_broad_scipy()
    cdf_p = lambda x: sum(w * scipy.stats.norm.cdf(x, m, s)  # noqa: E731
                          for w, m, s in zip(TARGET.weights, TARGET.means, TARGET.stds))
    values = []
    for h in (2.0, 1.0, 0.5, 0.1, 0.01):  # each grid refines the previous one
        edges = np.linspace(-12.0, 12.0, round(24 / h) + 1)
        edges[0], edges[-1] = -np.inf, np.inf
        values.append(float(kl_discrete(torch.tensor(np.diff(cdf_p(edges))),
                                        torch.tensor(np.diff(scipy.stats.norm.cdf(edges, 0.0, 2.0))))))
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:]))  # data-processing inequality
    assert max(values) <= exact + 1e-12 and exact - values[-1] < 1e-4


# --- Chapter 3: Gibbs' inequality, asymmetry -------------------------------------------------


# eq. log-tangent-bound on its own (log t <= t - 1) is a fact about torch.log, not about vae_lib:
# chapter 3's own cell checks it. Here it is applied to vae_lib's kl_discrete (eq. gibbs-tangent).


@pytest.mark.parametrize("concentration", [0.1, 0.3, 3.0])
def test_gibbs_chain_on_random_pairs(concentration):
    torch.manual_seed(1)
    d = dist.Dirichlet(torch.full((5,), concentration, dtype=F64))
    p, q = d.sample((20_000,)), d.sample((20_000,))
    kl = kl_discrete(p, q)
    bound = torch.where(p > 0, q - p, torch.zeros_like(p)).sum(-1)  # right side of eq. gibbs-tangent
    assert bool((-kl <= bound + 1e-12).all())  # eq. gibbs-flip, eq. gibbs-tangent
    assert bool((bound <= 1e-12).all())  # eq. gibbs-sum
    assert bool((kl >= 0).all()) and float(kl_discrete(p, p).abs().max()) == 0.0
    assert bool((kl > 0).all())  # random pairs are never equal


def test_asymmetric_example():
    p, q = t64(0.98, 0.01, 0.01), t64(1 / 3, 1 / 3, 1 / 3)
    h_p = -(0.98 * math.log(0.98) + 2 * 0.01 * math.log(0.01))
    assert float(kl_discrete(p, q)) == pytest.approx(math.log(3) - h_p, abs=1e-14)  # by hand
    by_hand_qp = (math.log((1 / 3) / 0.98) + 2 * math.log((1 / 3) / 0.01)) / 3
    assert float(kl_discrete(q, p)) == pytest.approx(by_hand_qp, abs=1e-14)
    assert float(kl_discrete(q, p)) > 1.5 * float(kl_discrete(p, q))


def test_triangle_inequality_fails_for_unit_gaussians():
    unit = torch.zeros(1, dtype=F64)
    d = lambda a, b: float(kl_diag_gaussians(t64(a), unit, t64(b), unit))  # noqa: E731
    assert d(0, 1) == pytest.approx(0.5) and d(1, 2) == pytest.approx(0.5) and d(0, 2) == pytest.approx(2.0)
    assert d(0, 2) > d(0, 1) + d(1, 2)


# --- Chapter 3: the explorer ---------------------------------------------------------------------


def _scipy_kl_normals(m1: float, s1: float, m2: float, s2: float) -> float:
    f = lambda x: scipy.stats.norm.pdf(x, m1, s1) * (scipy.stats.norm.logpdf(x, m1, s1)  # noqa: E731
                                                     - scipy.stats.norm.logpdf(x, m2, s2))
    return quad(f, m1 - 40 * s1, m1 + 40 * s1)


def test_explorer_grid_closed_form_matches_quadrature_and_mirror_symmetry():
    zero, unit = torch.zeros(1, dtype=F64), torch.zeros(1, dtype=F64)
    for mq in (-2.0, 0.0, 2.0):
        for lq in (-3.0, 0.0, 3.0):
            log_q = lambda z, mq=mq, lq=lq: closed_form_kl.normal_log_prob(z, mq, lq)  # noqa: E731
            log_p = lambda z: closed_form_kl.normal_log_prob(z, 0.0, 0.0)  # noqa: E731
            closed = float(kl_diag_gaussians(t64(mq), t64(lq), zero, unit))
            assert closed == pytest.approx(float(kl_quadrature(log_q, log_p, -40.0, 40.0, 8001)), abs=1e-8)
    # a narrow q and a broad q are mirror images (invariance under rescaling z)
    for v in (0.5, 1.0, 3.0):
        narrow_qp = float(kl_diag_gaussians(zero, t64(-v), zero, unit))
        broad_pq = float(kl_diag_gaussians(zero, unit, zero, t64(v)))
        assert narrow_qp == pytest.approx(broad_pq, abs=1e-14)
    # equal variances: both directions are mu^2 / 2
    assert float(kl_diag_gaussians(t64(2.0), unit, zero, unit)) == pytest.approx(2.0, abs=1e-14)
    assert float(kl_diag_gaussians(zero, unit, t64(2.0), unit)) == pytest.approx(2.0, abs=1e-14)


# --- Chapter 3: the mixture target and the two fits ------------------------------------------------


def test_mixture_log_prob_matches_torch_mixture_same_family():
    mix = dist.MixtureSameFamily(dist.Categorical(probs=t64(*TARGET.weights)),
                                 dist.Normal(t64(*TARGET.means), t64(*TARGET.stds)))
    x = torch.linspace(-15, 15, 301, dtype=F64)
    torch.testing.assert_close(TARGET.log_prob(x), mix.log_prob(x), rtol=0, atol=1e-12)  # eq. mixture-density
    assert bool(torch.isfinite(TARGET.log_prob(t64(-1e3, 1e3))).all())  # far tails stay finite


def test_mixture_moments_match_quadrature_and_samples():
    mean = quad(lambda x: x * mixture_pdf(x))
    var = quad(lambda x: (x - mean) ** 2 * mixture_pdf(x))
    assert TARGET.mean() == pytest.approx(mean, abs=1e-9)  # eq. mixture-moments
    assert TARGET.variance() == pytest.approx(var, abs=1e-9)
    x = TARGET.sample(100_000, generator=torch.Generator().manual_seed(0))
    est = closed_form_kl.mc_estimate(x.unsqueeze(-1))
    assert float(est.z_score(mean)) < 4
    assert float((x < 0).double().mean()) == pytest.approx(TARGET.weights[0], abs=4 * math.sqrt(0.24 / 1e5))


def test_forward_kl_split_and_cross_entropy():
    mu, logvar = 0.7, math.log(3.0)
    sigma2 = math.exp(logvar)
    neg_entropy_p = quad(lambda x: mixture_pdf(x) * math.log(mixture_pdf(x)), -20, 20)
    second = quad(lambda x: (x - mu) ** 2 * mixture_pdf(x))
    cross = 0.5 * math.log(2 * math.pi * sigma2) + second / (2 * sigma2)  # eq. forward-kl-cross-entropy
    kl = float(kl_fits.kl_to_gaussian(TARGET, mu, logvar, "forward"))
    assert kl == pytest.approx(neg_entropy_p + cross, abs=1e-9)  # eq. forward-kl-split


def test_moment_matching_is_the_forward_minimum():
    fit = kl_fits.moment_match(TARGET)  # eq. forward-kl-moment-matching
    assert fit.mu == pytest.approx(0.4, abs=1e-12) and fit.std**2 == pytest.approx(4.2, abs=1e-12)  # by hand
    theta = t64(fit.mu, fit.logvar).requires_grad_()
    kl_fits.kl_to_gaussian(TARGET, theta[0], theta[1], "forward").backward()
    assert float(theta.grad.norm()) < 1e-8
    for dm, dv in ((0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)):
        assert float(kl_fits.kl_to_gaussian(TARGET, fit.mu + dm, fit.logvar + dv, "forward")) > fit.kl
    gd = kl_fits.fit_gaussian(TARGET, "forward", mu0=0.0, logvar0=0.0, steps=300, lr=0.2)
    assert gd.mu == pytest.approx(fit.mu, abs=1e-4) and gd.logvar == pytest.approx(fit.logvar, abs=1e-4)
    assert gd.path.shape == (301, 2) and fit.path.shape == (1, 2)


def test_reverse_kl_objective_is_negative_entropy_minus_expected_log_target():
    mu, logvar = -1.3, math.log(0.8)
    s = math.exp(0.5 * logvar)
    neg_entropy_q = -0.5 * math.log(2 * math.pi * math.e * s**2)
    expected_log_p = quad(lambda x: scipy.stats.norm.pdf(x, mu, s) * math.log(mixture_pdf(x)), mu - 20 * s, mu + 20 * s)
    kl = float(kl_fits.kl_to_gaussian(TARGET, mu, logvar, "reverse"))
    assert kl == pytest.approx(neg_entropy_q - expected_log_p, abs=1e-9)  # eq. reverse-kl-objective


def test_reverse_fits_seek_one_mode_each(reverse_fits):
    forward = kl_fits.moment_match(TARGET)
    for fit, mode, w in zip(reverse_fits, TARGET.means, TARGET.weights):
        theta = t64(fit.mu, fit.logvar).requires_grad_()
        kl_fits.kl_to_gaussian(TARGET, theta[0], theta[1], "reverse").backward()
        assert float(theta.grad.norm()) < 1e-6  # a stationary point
        assert abs(fit.mu - mode) < 0.01 and abs(fit.std - 0.6) < 0.01
        assert fit.std**2 < forward.std**2 / 4  # mode-seeking: far narrower than the target
        assert fit.kl == pytest.approx(-math.log(w), abs=0.01)  # eq. reverse-kl-separated-modes
        assert fit.kl < -math.log(w)  # the overlap with the other mode only helps
    left, right = reverse_fits
    assert right.kl < left.kl  # the heavier mode is the better local minimum


def test_each_fit_wins_its_own_direction(reverse_fits):
    forward, right = kl_fits.moment_match(TARGET), reverse_fits[1]
    both = lambda f: [float(kl_fits.kl_to_gaussian(TARGET, f.mu, f.logvar, d)) for d in kl_fits.DIRECTIONS]  # noqa: E731
    (ff, fr), (rf, rr) = both(forward), both(right)
    assert ff < rf and rr < fr


def test_reverse_kl_to_an_unnormalised_target_shifts_by_log_z():
    z_const = 7.3
    for mu, logvar in ((0.4, math.log(4.2)), (-2.0, -1.0), (2.0, -1.0), (0.0, 0.0)):
        log_q = lambda x, mu=mu, logvar=logvar: closed_form_kl.normal_log_prob(x, mu, logvar)  # noqa: E731
        shifted = float(kl_quadrature(log_q, lambda x: TARGET.log_prob(x) + math.log(z_const), -12.0, 12.0, 1201))
        exact = float(kl_fits.kl_to_gaussian(TARGET, mu, logvar, "reverse"))
        assert shifted - exact == pytest.approx(-math.log(z_const), abs=1e-6)  # eq. reverse-kl-unnormalised


def test_kl_landscape_matches_pointwise_values():
    mus, logvars = torch.linspace(-3, 3, 7, dtype=F64), torch.linspace(-2, 2, 5, dtype=F64)
    for direction in kl_fits.DIRECTIONS:
        grid = kl_fits.kl_landscape(TARGET, direction, mus, logvars)
        assert grid.shape == (5, 7)
        for i, lv in enumerate(logvars.tolist()):
            for j, m in enumerate(mus.tolist()):
                assert float(grid[i, j]) == pytest.approx(float(kl_fits.kl_to_gaussian(TARGET, m, lv, direction)),
                                                          abs=1e-12)


def test_fit_plots_draw(reverse_fits):
    ax = kl_fits.plot_fits(TARGET, {"a": reverse_fits[0], "b": reverse_fits[1]})
    assert len(ax.get_lines()) == 2 and ax.get_xlabel()
    ax = kl_fits.plot_landscape(TARGET, "reverse", {"a": reverse_fits[0]}, n=11)
    assert ax.get_xlabel() and ax.get_ylabel()
    matplotlib.pyplot.close("all")


def test_kl_fits_reject_bad_input():
    with pytest.raises(ValueError, match="weights"):
        kl_fits.GaussianMixture1D(weights=(0.5, 0.6), means=(0.0, 1.0), stds=(1.0, 1.0))
    with pytest.raises(ValueError, match="stds"):
        kl_fits.GaussianMixture1D(weights=(0.5, 0.5), means=(0.0, 1.0), stds=(1.0, 0.0))
    with pytest.raises(ValueError, match="equal length"):
        kl_fits.GaussianMixture1D(weights=(1.0,), means=(0.0, 1.0), stds=(1.0,))
    with pytest.raises(ValueError, match="direction"):
        kl_fits.kl_to_gaussian(TARGET, 0.0, 0.0, "sideways")
    with pytest.raises(TypeError, match="target"):
        kl_fits.kl_to_gaussian("mixture", 0.0, 0.0, "forward")
    with pytest.raises(ValueError, match="steps"):
        kl_fits.fit_gaussian(TARGET, "reverse", 0.0, 0.0, steps=0)
    with pytest.raises(ValueError, match="lr"):
        kl_fits.fit_gaussian(TARGET, "reverse", 0.0, 0.0, lr=-1.0)
    with pytest.raises(ValueError, match="n must be"):
        TARGET.sample(0)
    with pytest.raises(ValueError, match="1-D"):
        kl_fits.kl_landscape(TARGET, "forward", torch.zeros(2, 2, dtype=F64), torch.zeros(2, dtype=F64))


# --- Chapter 5: the closed form, step by step ------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(20, generator=g, dtype=F64)
    logvar = -1.5 + 0.5 * torch.randn(20, generator=g, dtype=F64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(100_000, 20, generator=g, dtype=F64)
    q = dist.Independent(dist.Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = dist.Independent(dist.Normal(torch.zeros(20, dtype=F64), torch.ones(20, dtype=F64)), 1)
    return mu, logvar, z, q, p


def test_normal_log_prob_matches_torch(example):
    mu, logvar, z, q, p = example
    torch.testing.assert_close(closed_form_kl.normal_log_prob(z[:100], mu, logvar).sum(-1), q.log_prob(z[:100]),
                               rtol=0, atol=1e-10)  # eq. log-q-diagonal
    torch.testing.assert_close(closed_form_kl.normal_log_prob(z[:100], 0.0, 0.0).sum(-1), p.log_prob(z[:100]),
                               rtol=0, atol=1e-10)  # eq. log-prior-standard
    x = torch.linspace(-5, 5, 11, dtype=F64)
    np.testing.assert_allclose(closed_form_kl.normal_log_prob(x, 1.0, math.log(2.0)).numpy(),
                               scipy.stats.norm.logpdf(x.numpy(), 1.0, math.sqrt(2.0)), atol=1e-12)


def test_gaussian_moments_by_monte_carlo(example):
    mu, logvar, z, _, _ = example
    sigma2 = logvar.exp()
    assert float(closed_form_kl.mc_estimate((z - mu) ** 2).z_score(sigma2).max()) < 4.5  # eq. gaussian-second-central-moment
    assert float(closed_form_kl.mc_estimate(z**2).z_score(mu**2 + sigma2).max()) < 4.5  # eq. gaussian-second-moment


def test_entropy_term_three_ways(example):
    mu, logvar, z, q, _ = example
    formula = closed_form_kl.gaussian_entropy_term(mu, logvar)  # eq. gaussian-entropy-term
    assert float(formula) == pytest.approx(float(-q.entropy()), abs=1e-10)
    assert float(closed_form_kl.mc_estimate(q.log_prob(z)).z_score(formula)) < 4
    # batched, and independent of the means
    mus, lvs = torch.randn(7, 5, dtype=F64), torch.randn(7, 5, dtype=F64)
    torch.testing.assert_close(closed_form_kl.gaussian_entropy_term(mus, lvs),
                               -dist.Independent(dist.Normal(mus, torch.exp(0.5 * lvs)), 1).entropy())
    torch.testing.assert_close(closed_form_kl.gaussian_entropy_term(mus + 3, lvs), closed_form_kl.gaussian_entropy_term(mus, lvs))


def test_cross_entropy_term_three_ways(example):
    mu, logvar, z, q, p = example
    formula = closed_form_kl.gaussian_cross_entropy_term(mu, logvar)  # eq. gaussian-cross-entropy-term
    assert float(formula) == pytest.approx(float(-(q.entropy() + dist.kl_divergence(q, p))), abs=1e-10)
    assert float(closed_form_kl.mc_estimate(p.log_prob(z)).z_score(formula)) < 4
    # one unit by SciPy quadrature
    m, s = 0.7, 0.4
    by_quad = quad(lambda x: scipy.stats.norm.pdf(x, m, s) * scipy.stats.norm.logpdf(x), m - 30 * s, m + 30 * s)
    assert float(closed_form_kl.gaussian_cross_entropy_term(t64(m), t64(math.log(s * s)))) == pytest.approx(by_quad, abs=1e-10)


def test_general_cross_entropy_term_matches_torch_and_quadrature():
    g = torch.Generator().manual_seed(3)
    mq, lq, mp, lp = (torch.randn(100, 6, generator=g, dtype=F64) for _ in range(4))
    qd = dist.Independent(dist.Normal(mq, torch.exp(0.5 * lq)), 1)
    pd = dist.Independent(dist.Normal(mp, torch.exp(0.5 * lp)), 1)
    torch.testing.assert_close(closed_form_kl.gaussian_cross_entropy_term(mq, lq, mp, lp),
                               -(qd.entropy() + dist.kl_divergence(qd, pd)))  # eq. gaussian-cross-entropy-general
    by_quad = quad(lambda x: scipy.stats.norm.pdf(x, 0.5, 0.8) * scipy.stats.norm.logpdf(x, -1.0, 1.7), -30, 30)
    value = closed_form_kl.gaussian_cross_entropy_term(t64(0.5), t64(math.log(0.64)), t64(-1.0), t64(math.log(1.7**2)))
    assert float(value) == pytest.approx(by_quad, abs=1e-10)
    # p = N(0, I) given explicitly is the default
    zeros = torch.zeros_like(mq)
    torch.testing.assert_close(closed_form_kl.gaussian_cross_entropy_term(mq, lq, zeros, zeros),
                               closed_form_kl.gaussian_cross_entropy_term(mq, lq))


def test_closed_form_split_and_result(example):
    mu, logvar, z, q, p = example
    kl = kl_diag_gaussian_to_standard_normal(mu, logvar)  # eq. kl-closed-form
    split = closed_form_kl.gaussian_entropy_term(mu, logvar) - closed_form_kl.gaussian_cross_entropy_term(mu, logvar)
    assert float(kl) == pytest.approx(float(split), abs=1e-12)  # eq. closed-form-split
    assert float(kl) == pytest.approx(float(dist.kl_divergence(q, p)), abs=1e-10)
    est = closed_form_kl.mc_estimate(q.log_prob(z) - p.log_prob(z))
    assert float(kl_monte_carlo(q.log_prob(z), p.log_prob(z))) == pytest.approx(float(est.mean), abs=1e-12)
    assert float(est.z_score(kl)) < 4


def test_two_gaussians_matches_torch_and_reduces_to_closed_form(example):
    g = torch.Generator().manual_seed(4)
    mq, lq, mp, lp = (torch.randn(200, 20, generator=g, dtype=F64) * 1.5 for _ in range(4))
    qd = dist.Independent(dist.Normal(mq, torch.exp(0.5 * lq)), 1)
    pd = dist.Independent(dist.Normal(mp, torch.exp(0.5 * lp)), 1)
    torch.testing.assert_close(kl_diag_gaussians(mq, lq, mp, lp, reduction="none"), dist.kl_divergence(qd, pd),
                               rtol=1e-12, atol=1e-9)  # eq. kl-two-gaussians
    torch.testing.assert_close(kl_diag_gaussians(mp, lp, mq, lq, reduction="none"), dist.kl_divergence(pd, qd),
                               rtol=1e-12, atol=1e-9)
    mu, logvar = example[0], example[1]
    zeros = torch.zeros_like(mu)
    assert float(kl_diag_gaussians(mu, logvar, zeros, zeros)) == pytest.approx(
        float(kl_diag_gaussian_to_standard_normal(mu, logvar)), abs=1e-12)


def test_per_unit_kl_and_its_gradients(example):
    mu, logvar = example[0], example[1]
    per_unit = 0.5 * mu**2 + 0.5 * (logvar.exp() - 1 - logvar)  # eq. kl-per-unit
    assert float(per_unit.sum()) == pytest.approx(float(kl_diag_gaussian_to_standard_normal(mu, logvar)), abs=1e-12)
    m, v, d = closed_form_kl.kl_per_unit_grid(n=201)
    assert m.shape == v.shape == d.shape == (201, 201)
    torch.testing.assert_close(d, 0.5 * (m**2 + v.exp() - 1 - v))
    assert bool((d >= -1e-15).all())
    i = int(d.argmin())
    assert abs(float(m.reshape(-1)[i])) < 1e-12 and abs(float(v.reshape(-1)[i])) < 1e-12
    a, b = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    kl_diag_gaussian_to_standard_normal(a, b).backward()
    torch.testing.assert_close(a.grad, mu)  # eq. kl-closed-form-gradients
    torch.testing.assert_close(b.grad, 0.5 * (logvar.exp() - 1))


def test_mc_estimate_standard_error():
    values = torch.tensor([[1.0], [2.0], [4.0], [7.0]], dtype=F64)
    est = closed_form_kl.mc_estimate(values)
    assert float(est.mean) == pytest.approx(3.5)
    assert float(est.stderr) == pytest.approx(float(np.std([1, 2, 4, 7], ddof=1) / 2))
    assert float(est.z_score(2.5)) == pytest.approx(1.0 / float(est.stderr))


def test_per_unit_contour_draws():
    ax = closed_form_kl.kl_per_unit_contour(n=31)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    bar = ax.figure.axes[-1]  # the colour bar: every band named at both ends, the top band too
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert labels[:2] == ["0", "0.05"] and labels[-2] == "8" and float(labels[-1]) >= 16
    matplotlib.pyplot.close("all")


def test_gaussian_kl_rejects_bad_input():
    with pytest.raises(ValueError, match="mu and logvar"):
        closed_form_kl.gaussian_entropy_term(torch.zeros(3, dtype=F64), torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="mu and logvar"):
        closed_form_kl.gaussian_cross_entropy_term(torch.zeros((), dtype=F64), torch.zeros((), dtype=F64))
    with pytest.raises(ValueError, match="both mu_p and logvar_p"):
        closed_form_kl.gaussian_cross_entropy_term(torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64),
                                                mu_p=torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="mu_p"):
        z3, z4 = torch.zeros(3, dtype=F64), torch.zeros(4, dtype=F64)
        closed_form_kl.gaussian_cross_entropy_term(z3, z3, z4, z4)
    with pytest.raises(TypeError, match="logvar"):
        closed_form_kl.normal_log_prob(torch.zeros(3, dtype=F64), 0.0, "wide")
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        closed_form_kl.normal_log_prob([0.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="S >= 2"):
        closed_form_kl.mc_estimate(torch.zeros(1, 3, dtype=F64))
    with pytest.raises(ValueError, match="NaN"):
        closed_form_kl.mc_estimate(torch.tensor([1.0, float("nan")], dtype=F64))
    with pytest.raises(ValueError, match="n must be"):
        closed_form_kl.kl_per_unit_grid(n=1)
    with pytest.raises(ValueError, match="^logvar_min must be below logvar_max"):
        closed_form_kl.kl_per_unit_grid(logvar_min=1.0, logvar_max=0.0)
    with pytest.raises(ValueError, match="^mu_max must be a finite positive number"):
        closed_form_kl.kl_per_unit_grid(mu_max=0.0)


def test_kl_explorer_fixes_one_density_axis_for_every_q():
    # the page must not rescale: the fixed axis holds the narrowest q of the sliders
    explorer = closed_form_kl.kl_explorer()
    narrowest = min(s.lo for s in explorer.sliders if s.key == "logvar_q")
    assert explorer.data["y_max"] >= 1 / math.sqrt(2 * math.pi * math.exp(narrowest))
    assert explorer.data["mu_p"] == 0.0 and explorer.data["logvar_p"] == 0.0
    assert [s.value for s in explorer.sliders] == [0.0, 0.0]  # q = p at the start: both KLs 0


def test_landscape_has_a_colourbar_and_level_labels(reverse_fits):
    ax = kl_fits.plot_landscape(TARGET, "reverse", {"a": reverse_fits[0]}, n=11)
    assert len(ax.figure.axes) == 2 and "D_{\\mathrm{KL}}(q" in ax.figure.axes[1].get_ylabel()  # the colourbar
    assert any(t.get_text() for t in ax.texts)  # clabel writes the levels as texts on the axes
    matplotlib.pyplot.close(ax.figure)


def test_kl_is_invariant_under_an_invertible_change_of_variables():
    """eq. kl-change-of-variables: the Jacobian factors of eq. kl-change-of-variables-densities cancel; the entropy moves."""
    import scipy.integrate
    import scipy.stats
    for (mu_p, sd_p), (mu_q, sd_q) in [((0.0, 1.0), (1.0, math.exp(-0.5))), ((-0.5, 0.7), (0.4, 1.6))]:
        closed = math.log(sd_q / sd_p) + (sd_p**2 + (mu_p - mu_q) ** 2) / (2 * sd_q**2) - 0.5
        for psi, inverse, log_jac in [(math.sinh, math.asinh, lambda u: -0.5 * math.log1p(u * u)),
                                      (math.exp, math.log, lambda u: -math.log(u)),
                                      (lambda z: 3 * z - 1, lambda u: (u + 1) / 3, lambda u: -math.log(3))]:
            lo = 0.0 if psi is math.exp else -np.inf
            def log_p(u, inverse=inverse, mu=mu_p, sd=sd_p, log_jac=log_jac):  # noqa: E306  (loop variables bound: B023)
                return scipy.stats.norm.logpdf(inverse(u), mu, sd) + log_jac(u)
            def log_q(u, inverse=inverse, mu=mu_q, sd=sd_q, log_jac=log_jac):  # noqa: E306
                return scipy.stats.norm.logpdf(inverse(u), mu, sd) + log_jac(u)
            after = scipy.integrate.quad(lambda u: math.exp(log_p(u)) * (log_p(u) - log_q(u)), lo, np.inf,
                                         epsabs=1e-13, epsrel=1e-12, limit=400)[0]
            assert abs(after - closed) < 1e-8


def test_reverse_landscape_has_three_minima_and_two_saddles():
    """The stationary points chapter 3 marks: Newton's method from the chapter's starts, and the kinds it reports."""
    target = kl_fits.GaussianMixture1D(weights=(0.4, 0.6), means=(-2.0, 2.0), stds=(0.6, 0.6))
    points = [kl_fits.find_stationary(target, "reverse", m, v) for m, v in ((-1.2, 0.6), (0.0, 0.5), (1.0, 0.6))]
    assert [k for _, _, k in points] == [1, 0, 1]
    centre = points[1]
    fits = [kl_fits.fit_gaussian(target, "reverse", mu0=m, logvar0=0.0, steps=300, lr=0.2) for m in (-1.0, 1.0)]
    assert float(kl_fits.kl_to_gaussian(target, centre[0], centre[1], "reverse")) > max(f.kl for f in fits)
    with pytest.raises(RuntimeError):
        kl_fits.find_stationary(target, "reverse", 0.0, -1.0)  # runs off the plane
