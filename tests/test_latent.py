"""Tests of vae_lib.chapters.latent, vae_lib.chapters.encoder_gaussian and vae_lib.chapters.diagrams (chapters 1 and 2).

Every result is checked against an independent reference: SciPy (distances,
chi quantiles, Mahalanobis), NumPy (PCA), torch.distributions (entropies, KLs,
Normal samples), closed-form derivatives, or Monte Carlo with a stated tolerance.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats as st
import torch
from matplotlib.figure import Figure
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_lib import VAE, AutoEncoder, ModelConfig, reparameterize
from vae_lib.book import live
from vae_lib.chapters import code_plane, diagrams, latent
from vae_lib.chapters import encoder_gaussian as eg
from vae_lib.divergences import kl_logstd_to_standard_normal, source_penalty
from vae_lib.objectives import ElboTerms, bernoulli_log_likelihood
from vae_lib.training import fit

SMALL = ModelConfig(input_dim=784, hidden_dim=16, latent_dim=3)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- codes and images ------------------------------------------------------------------


def test_encode_codes_matches_the_encoders():
    x = torch.rand(7, 784)
    ae, vae = AutoEncoder(SMALL), VAE(SMALL)
    torch.testing.assert_close(latent.encode_codes(ae, x, batch_size=3), ae.code(x).detach())
    torch.testing.assert_close(latent.encode_codes(vae, x, batch_size=2), vae.encode(x)[0].detach())


def test_sampled_vae_codes_follow_q_by_monte_carlo():
    vae = VAE(SMALL)
    x = torch.rand(1, 784).expand(20_000, 784).contiguous()
    z = latent.encode_codes(vae, x, sample=True, generator=torch.Generator().manual_seed(1))
    mu, logvar = (t.detach()[0] for t in vae.encode(x[:1]))
    sigma = torch.exp(0.5 * logvar)
    # standard errors: sigma / sqrt(S) for the mean, about sigma^2 sqrt(2/S) for the variance; 5 of them
    assert torch.all((z.mean(0) - mu).abs() < 5 * sigma / math.sqrt(20_000))
    assert torch.all((z.var(0) - sigma**2).abs() < 5 * sigma**2 * math.sqrt(2 / 20_000))


def test_sampling_an_autoencoder_is_refused():
    with pytest.raises(ValueError, match="sample=True needs a VAE"):
        latent.encode_codes(AutoEncoder(SMALL), torch.rand(2, 784), sample=True)


def test_decode_images_is_the_sigmoid_of_the_logits():
    ae = AutoEncoder(SMALL)
    z = torch.randn(5, 3)
    torch.testing.assert_close(latent.decode_images(ae, z, batch_size=2), torch.sigmoid(ae.decode(z)).detach())


def test_codes_and_images_check_their_arguments():
    ae = AutoEncoder(SMALL)
    with pytest.raises(TypeError, match="model must be"):
        latent.encode_codes(torch.nn.Linear(2, 2), torch.rand(2, 784))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 3\)"):
        latent.decode_images(ae, torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 784\)"):
        latent.encode_codes(ae, torch.rand(784))


# --- random codes, distances, radii ---------------------------------------------------------


def test_gaussian_random_codes_are_standard_normal():
    ref = torch.randn(10, 4) * 5 + 3
    z = latent.random_codes(40_000, ref, "gaussian", torch.Generator().manual_seed(0))
    assert z.shape == (40_000, 4)
    assert z.mean(0).abs().max() < 5 / math.sqrt(40_000)
    assert (z.std(0) - 1).abs().max() < 5 * math.sqrt(1 / (2 * 40_000))
    # Kolmogorov-Smirnov against N(0, 1) on one coordinate
    assert st.kstest(z[:, 0].numpy(), "norm").pvalue > 1e-3


def test_box_random_codes_are_uniform_in_the_bounding_box():
    ref = torch.tensor([[0.0, -2.0], [1.0, 5.0], [0.5, 0.0]])
    z = latent.random_codes(40_000, ref, "box", torch.Generator().manual_seed(0))
    lo, hi = torch.tensor([0.0, -2.0]), torch.tensor([1.0, 5.0])
    assert torch.all(z >= lo) and torch.all(z <= hi)
    u = (z - lo) / (hi - lo)
    for j in range(2):
        assert st.kstest(u[:, j].numpy(), "uniform").pvalue > 1e-3


def test_random_codes_check_their_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        latent.random_codes(3, torch.randn(4, 2), "uniform")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        latent.random_codes(0, torch.randn(4, 2))


def test_nearest_distances_match_scipy():
    a, b = torch.randn(37, 5, dtype=torch.float64), torch.randn(23, 5, dtype=torch.float64)
    expected = ssd.cdist(a.numpy(), b.numpy()).min(1)
    np.testing.assert_allclose(latent.nearest_distances(a, b, batch_size=8).numpy(), expected, rtol=1e-10)
    with pytest.raises(ValueError, match=r"b must have shape \(N, 5\)"):
        latent.nearest_distances(a, torch.randn(3, 4, dtype=torch.float64))


@pytest.mark.parametrize("j, mass", [(1, 0.6826894921370859), (2, 0.5), (20, 0.99), (100, 0.9)])
def test_prior_radius_is_the_chi_quantile(j, mass):
    assert latent.prior_radius(j, mass) == pytest.approx(st.chi(j).ppf(mass), rel=1e-9)


def test_prior_radius_by_monte_carlo():
    r = latent.prior_radius(20, 0.99)
    norms = torch.randn(200_000, 20, generator=torch.Generator().manual_seed(0)).norm(dim=1)
    inside = float((norms <= r).double().mean())
    assert abs(inside - 0.99) < 5 * math.sqrt(0.99 * 0.01 / 200_000)  # 5 binomial standard errors


def test_interpolate():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = latent.interpolate(z0, z1, 5)
    torch.testing.assert_close(path, torch.tensor([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [3.0, -1.0], [4.0, -2.0]]))
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        latent.interpolate(z0, z1, 1)
    with pytest.raises(ValueError, match="z0 and z1 must both have shape"):
        latent.interpolate(z0, torch.zeros(3), 3)


def test_transform_codes_moves_codes_and_keeps_reconstructions(float64):
    # eq. ae-code-symmetry: e'(x) = A e(x) + c, d'(z) = d(A^-1 (z - c)), so d' o e' = d o e
    ae = AutoEncoder(SMALL)
    x = torch.rand(9, 784)
    a, c = torch.randn(3, 3) + 3 * torch.eye(3), torch.randn(3)
    before = {k: v.clone() for k, v in ae.state_dict().items()}
    moved = latent.transform_codes(ae, a, c)
    torch.testing.assert_close(moved.code(x), ae.code(x) @ a.T + c)
    torch.testing.assert_close(moved(x), ae(x))
    assert not torch.allclose(moved.code(x), ae.code(x))
    torch.testing.assert_close(ae.state_dict(), before)  # the original model is left as it was
    with pytest.raises(ValueError, match=r"matrix must be \(3, 3\)"):
        latent.transform_codes(ae, torch.eye(2), torch.zeros(2))
    with pytest.raises(ValueError, match="signed permutation"):
        latent.transform_codes(VAE(SMALL), a, c)


def test_signed_permutation_of_a_vae_leaves_q_and_the_decoder_equivalent(float64):
    # mu' = P mu, logvar' = |P| logvar, d'(z) = d(P^T z): the KL, the law of z and d(z) are unchanged
    vae = VAE(SMALL)
    x = torch.rand(9, 784)
    p = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    moved = latent.transform_codes(vae, p)
    (mu, lv), (mu2, lv2) = vae.encode(x), moved.encode(x)
    torch.testing.assert_close(mu2, mu @ p.T)
    torch.testing.assert_close(lv2, lv @ p.abs().T)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * lv)), Normal(0.0, 1.0)).sum(-1)
    kl2 = kl_divergence(Normal(mu2, torch.exp(0.5 * lv2)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl2, kl)
    z = torch.randn(5, 3)
    torch.testing.assert_close(moved.decode(z @ p.T), vae.decode(z))
    with pytest.raises(ValueError, match="signed permutation and shift zero"):
        latent.transform_codes(vae, p, torch.ones(3))


# --- the loss floor of chapter 1 ----------------------------------------------------------------


def test_bernoulli_entropy_matches_torch_distributions(float64):
    x = torch.rand(4, 784)
    x[0, :10] = 0.0
    x[1, :10] = 1.0
    expected = Bernoulli(probs=x).entropy().sum(-1)
    torch.testing.assert_close(latent.bernoulli_entropy(x, reduction="none"), expected)


def test_cross_entropy_is_entropy_plus_bernoulli_kl(float64):
    # eq. ae-loss-floor: CE(x, x_hat) = H(x) + sum_i KL(Bern(x_i) || Bern(x_hat_i)) >= H(x)
    x = torch.rand(6, 784) * 0.98 + 0.01
    logits = torch.randn(6, 784)
    ce = -bernoulli_log_likelihood(x, logits, reduction="none")
    kl = kl_divergence(Bernoulli(probs=x), Bernoulli(logits=logits)).sum(-1)
    torch.testing.assert_close(ce, latent.bernoulli_entropy(x, reduction="none") + kl)
    floor = -bernoulli_log_likelihood(x, torch.logit(x), reduction="none")  # x_hat = x reaches it
    torch.testing.assert_close(floor, latent.bernoulli_entropy(x, reduction="none"))


def test_bernoulli_entropy_rejects_non_probabilities():
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        latent.bernoulli_entropy(torch.full((2, 3), 1.5))


# --- the principal plane and the explorer -------------------------------------------------------


def test_principal_plane_matches_numpy_pca(float64):
    z = torch.randn(500, 4) @ torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5])) + 7.0
    plane = code_plane.principal_plane(z)
    evals, evecs = np.linalg.eigh(np.cov(z.numpy().T))
    order = np.argsort(evals)[::-1]
    for k in range(2):
        v = evecs[:, order[k]]
        assert abs(abs(float(plane.axes[k] @ torch.from_numpy(v))) - 1) < 1e-8  # same axis up to sign
        assert float(plane.scales[k]) == pytest.approx(math.sqrt(evals[order[k]]), rel=1e-8)
        assert float(plane.explained[k]) == pytest.approx(evals[order[k]] / evals.sum(), rel=1e-8)
    a, b = torch.tensor([0.5, -2.0]), torch.tensor([1.0, 3.0])
    torch.testing.assert_close(plane.project(plane.codes(a, b)), torch.stack([a, b], 1))


def test_plane_explorer_exports_the_plane_and_the_decoder():
    torch.manual_seed(0)
    ae = AutoEncoder(SMALL)
    codes = torch.randn(50, 3)
    plane = code_plane.principal_plane(codes)
    explorer = code_plane.plane_explorer("p", ae, plane, codes, torch.arange(50) % 10, max_points=20)
    a, b = torch.tensor([1.0, -2.0, 0.0]), torch.tensor([-2.0, 0.5, 0.0])
    # the page's code(a, b) is the plane's, to the 6 decimals exported
    torch.testing.assert_close(code_plane.exported_plane_codes(explorer, a, b), plane.codes(a, b).double(), atol=1e-5, rtol=0)
    assert len(explorer.learned["cloud"]) == 2 * 20 and len(explorer.learned["centroids"]) == 10
    xy = plane.project(codes)
    c0 = explorer.learned["centroids"][0]
    assert c0[0] == 0 and c0[1:] == pytest.approx(xy[torch.arange(50) % 10 == 0].mean(0).tolist(), abs=1e-3)
    worst, mean = code_plane.exported_decoder_error(explorer, ae, n=9)
    assert worst < live.MAX_PIXEL_ERROR and mean < live.MEAN_PIXEL_ERROR
    assert explorer.data["side"] == 28 and explorer.kind == "latent-plane"
    with pytest.raises(ValueError, match="labels must have shape"):
        code_plane.plane_explorer("p", ae, plane, codes, torch.arange(3))


# --- chapter 2: reparameterisation and the sample cloud ----------------------------------------


def test_reparameterised_samples_have_the_law_of_q(float64):
    # eq. reparameterisation: z = mu + sigma * eps ~ N(mu, sigma^2), compared with torch.distributions
    mu, logvar = torch.tensor([1.0, -2.0]), torch.tensor([0.5, -1.0])
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2), torch.Generator().manual_seed(0))
    sigma = torch.exp(0.5 * logvar)
    for j in range(2):
        assert st.kstest(z[:, j].numpy(), "norm", args=(float(mu[j]), float(sigma[j]))).pvalue > 1e-3
    lp = Normal(mu, sigma).log_prob(z).sum(-1).mean()
    assert abs(float(lp) - float(-Normal(mu, sigma).entropy().sum())) < 0.02  # E[log q] = -H(q), SE ~ 0.003


def test_reparameterisation_gradients_are_closed_form(float64):
    mu = torch.tensor([0.3, -1.0], requires_grad=True)
    logvar = torch.tensor([0.2, -0.7], requires_grad=True)
    g = torch.Generator().manual_seed(5)
    z = reparameterize(mu, logvar, g)
    eps = torch.randn(2, generator=torch.Generator().manual_seed(5))
    dmu, dlv = torch.autograd.grad(z.sum(), (mu, logvar))
    torch.testing.assert_close(dmu, torch.ones(2))  # dz/dmu = 1
    torch.testing.assert_close(dlv, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)  # dz/dlogvar = sigma eps / 2


def test_sample_cloud_explorer_carries_the_seed_of_its_noise():
    explorer = eg.sample_cloud_explorer(n=40, seed=7, mu_2=0.5)
    assert explorer.data == {"n": 40, "seed": 7, "mu_2": 0.5}
    assert {s.key for s in explorer.sliders} == {"mu_1", "logvar_1", "logvar_2"}
    assert all(s.lo <= 0.0 <= s.hi and s.value == 0.0 for s in explorer.sliders)  # KL(q || p) = 0 at the start


# --- chapter 2: the source's penalty against the two KLs -------------------------------------


def test_source_penalty_is_twice_the_kl_of_a_log_variance(float64):
    mu, s = torch.randn(8, 5), torch.randn(8, 5)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * s)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(source_penalty(mu, s), 2 * kl)


def test_kl_logstd_matches_torch_distributions_and_differs_from_the_source(float64):
    mu, s = torch.randn(8, 5), torch.randn(8, 5)
    kl = kl_divergence(Normal(mu, torch.exp(s)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_logstd_to_standard_normal(mu, s), kl)
    assert not torch.allclose(source_penalty(mu, s), 2 * kl)
    assert not torch.allclose(source_penalty(mu, s), kl)


def test_penalty_gradients_match_closed_forms(float64):
    mu = torch.tensor([[0.5], [-1.0], [0.0], [2.0]])
    s = torch.tensor([[-2.0], [-0.5], [0.0], [1.0]])
    res = eg.penalty_values_and_gradients(mu, s)
    torch.testing.assert_close(res["source"]["d_s"], torch.exp(s) - 1)
    torch.testing.assert_close(res["source"]["d_mu"], 2 * mu)
    torch.testing.assert_close(res["kl_logvar"]["d_s"], 0.5 * (torch.exp(s) - 1))
    torch.testing.assert_close(res["kl_logvar"]["d_mu"], mu)
    torch.testing.assert_close(res["kl_logstd"]["d_s"], torch.exp(2 * s) - 1)
    torch.testing.assert_close(res["kl_logstd"]["d_mu"], mu)
    # the same minimiser: every gradient vanishes at mu = 0, s = 0 and every value is 0 there
    zero = eg.penalty_values_and_gradients(torch.zeros(1, 3), torch.zeros(1, 3))
    for name in eg.PENALTIES:
        assert float(zero[name]["value"].abs().max()) == 0.0
        assert float(zero[name]["d_s"].abs().max()) == 0.0


def test_source_penalty_weighs_the_log_std_a_quarter_of_twice_the_kl_near_zero(float64):
    # (e^s - 1 - s) / (e^{2s} - 1 - 2s) -> 1/4 as s -> 0: the curvatures are 1 and 4
    s = torch.tensor([[1e-3]])
    ratio = source_penalty(torch.zeros_like(s), s) / (2 * kl_logstd_to_standard_normal(torch.zeros_like(s), s))
    assert float(ratio) == pytest.approx(0.25, rel=2e-3)


def test_penalty_values_check_shapes_and_figure_draws():
    with pytest.raises(ValueError, match=r"mu and s must both have shape \(N, J\)"):
        eg.penalty_values_and_gradients(torch.zeros(3), torch.zeros(3))
    assert isinstance(eg.penalty_figure(), Figure)
    with pytest.raises(ValueError, match="^s_min must be below s_max"):
        eg.penalty_figure(1.0, 0.0)


# --- chapter 2: decoders trained on different data ---------------------------------------------


def test_fit_on_subsets_trains_each_model_on_its_rows_only():
    x = torch.rand(40, 784)
    masks = {"even": torch.arange(40) % 2 == 0, "odd": torch.arange(40) % 2 == 1}
    seen: list[torch.Tensor] = []

    def recording_objective(model, xb):
        seen.append(xb)
        loss = model(xb)[0].pow(2).mean()
        return ElboTerms(loss, loss, torch.zeros_like(loss))

    models = latent.fit_on_subsets(lambda: VAE(SMALL), recording_objective, x, masks, epochs=1, batch_size=8)
    assert list(models) == ["even", "odd"]
    rows_even, rows_odd = torch.cat(seen[:3]), torch.cat(seen[3:])
    assert rows_even.shape == rows_odd.shape == (20, 784)
    torch.testing.assert_close(rows_even.sum(0), x[masks["even"]].sum(0))
    torch.testing.assert_close(rows_odd.sum(0), x[masks["odd"]].sum(0))
    # different seeds: different initial weights, hence different models
    assert not torch.equal(models["even"].decoder[0].weight, models["odd"].decoder[0].weight)


def test_fit_on_subsets_is_reproducible_and_checks_masks():
    x = torch.rand(30, 784)
    masks = {"a": torch.arange(30) < 15}
    kw = dict(epochs=1, batch_size=10)
    from vae_lib.training import vae_objective

    m1 = latent.fit_on_subsets(lambda: VAE(SMALL), vae_objective(), x, masks, **kw)["a"]
    m2 = latent.fit_on_subsets(lambda: VAE(SMALL), vae_objective(), x, masks, **kw)["a"]
    torch.testing.assert_close(m1.state_dict(), m2.state_dict())
    with pytest.raises(TypeError, match=r"^masks\['a'\] must be a boolean tensor, got torch.int64"):
        latent.fit_on_subsets(lambda: VAE(SMALL), vae_objective(), x, {"a": torch.arange(30)}, epochs=1)
    with pytest.raises(ValueError, match="selects no rows"):
        latent.fit_on_subsets(lambda: VAE(SMALL), vae_objective(), x, {"a": torch.zeros(30, dtype=torch.bool)},
                              epochs=1)


def test_decoder_disagreement_against_a_direct_computation():
    a, b = VAE(SMALL), VAE(SMALL)
    z = torch.randn(6, 3)
    res = latent.decoder_disagreement(a, b, z)
    ia, ib = torch.sigmoid(a.decode(z)).detach(), torch.sigmoid(b.decode(z)).detach()
    assert res["across"] == pytest.approx(float((ia - ib).abs().mean()), rel=1e-6)
    within = np.mean([float((ia[k] - ia[k - 1]).abs().mean()) for k in range(6)])
    assert res["within_a"] == pytest.approx(within, rel=1e-6)
    assert latent.decoder_disagreement(a, a, z)["across"] == 0.0
    with pytest.raises(ValueError, match="at least two codes"):
        latent.decoder_disagreement(a, b, z[:1])


# --- diagrams -------------------------------------------------------------------------------------


def test_diagrams_draw_with_and_without_digits():
    x = torch.rand(784)
    for make in (diagrams.autoencoder_diagram, diagrams.vae_diagram):
        assert isinstance(make(), Figure)
        fig = make(x, x)
        assert len(fig.axes[0].images) == 2
    with pytest.raises(ValueError, match="784 pixels"):
        diagrams.autoencoder_diagram(torch.rand(10))


def test_a_short_training_lowers_the_autoencoder_loss():
    # the chapter-1 pipeline end to end on a tiny problem: the loss must fall
    from vae_lib.training import ae_objective

    x = (torch.rand(64, 784) > 0.7).float()
    hist = fit(AutoEncoder(SMALL), ae_objective(), x, epochs=5, batch_size=16)
    assert hist["train/loss"][-1] < hist["train/loss"][0]


def test_whitening_gives_codes_mean_zero_and_identity_covariance():
    z = torch.randn(500, 3, dtype=torch.float64) @ torch.tensor([[2.0, 0, 0], [1, 1, 0], [0, 3, 0.5]],
                                                                dtype=torch.float64) + 4.0
    a, c = latent.whitening(z)
    w = z @ a.T + c
    assert torch.allclose(w.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(torch.cov(w.T), torch.eye(3, dtype=torch.float64), atol=1e-10)
    with pytest.raises(ValueError, match="more codes than dimensions"):
        latent.whitening(z[:3])


def test_diagrams_show_the_digits_they_are_given():
    # the input box holds x's pixels; with x alone the output box shows x faded (the target), not an empty frame
    x = torch.zeros(784)
    x[::2] = 1.0
    for make in (diagrams.autoencoder_diagram, diagrams.vae_diagram):
        fig = make(x)
        images = fig.axes[0].get_images()
        assert len(images) == 2 and np.array_equal(images[0].get_array(), x.reshape(28, 28).numpy())
        assert images[1].get_alpha() < 1
        assert len(make().axes[0].get_images()) == 0  # without data: empty frames
        plt.close("all")


# --- chapters 1 and 2: one measurement of the fitted Gaussian's outliers ------------------------


def test_fitted_gaussian_outliers_against_a_direct_computation():
    torch.manual_seed(0)
    ae = AutoEncoder(SMALL)
    x_train, x_heldout = torch.rand(200, 784), torch.rand(60, 784)
    out = latent.fitted_gaussian_outliers(ae, x_train, x_heldout, n=300, seed=3, quantile=0.9)
    # the whitened training codes have mean 0 and covariance I
    torch.testing.assert_close(out.train.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cov(out.train.T), torch.eye(3), atol=1e-4, rtol=0)
    # nearest distances and the share, recomputed with scipy
    d_held = ssd.cdist(out.heldout.numpy(), out.train.numpy()).min(1)
    d_samp = ssd.cdist(out.samples.numpy(), out.train.numpy()).min(1)
    np.testing.assert_allclose(out.d_heldout.numpy(), d_held, rtol=1e-3, atol=1e-4)  # float32 distances
    line = np.quantile(d_held, 0.9)
    assert out.share == pytest.approx(100 * np.mean(d_samp > line), abs=1e-5)  # a float32 mean
    # the seed fixes the draws: two chapters that train the same model read the same number
    again = latent.fitted_gaussian_outliers(ae, x_train, x_heldout, n=300, seed=3, quantile=0.9)
    assert again.share == out.share and torch.equal(again.samples, out.samples)
    with pytest.raises(ValueError, match="quantile must lie strictly between 0 and 1"):
        latent.fitted_gaussian_outliers(ae, x_train, x_heldout, quantile=1.0)
    with pytest.raises(TypeError, match="ae must be a vae_lib AutoEncoder"):
        latent.fitted_gaussian_outliers(VAE(SMALL), x_train, x_heldout)
