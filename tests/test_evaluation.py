"""vae_lib.evaluation: the held-out ELBO and the importance-sampled log-likelihood (IWAE bound)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_lib import data as D
from vae_lib import runtime as R
from vae_lib import training as T
from vae_lib.evaluation import heldout_elbo, importance_sampled_log_likelihood, log_importance_weights
from vae_lib.models import VAE, ModelConfig

CONFIG = ModelConfig(input_dim=784, hidden_dim=64, latent_dim=5)


@pytest.fixture(scope="module")
def images():
    return D.load_embedded_mnist().images


@pytest.fixture(scope="module")
def model(images):
    """A small VAE trained briefly, so that q(z|x) is informative but still far from the true posterior."""
    R.seed_everything(0)
    m = VAE(CONFIG)
    T.fit(m, T.vae_objective(), images[:300], epochs=3, batch_size=50, progress=False)
    return m


# --- heldout_elbo ----------------------------------------------------------------------------


def reference_elbo_terms(model, x, eps):
    """Mean (reconstruction, kl) over x, one image at a time, from torch.distributions.

    eps (N, J) is image i's standard-normal noise. Independent of vae_lib.objectives and of the
    batched loop: -log p(x|z) from Bernoulli(logits=...) (validate_args=False: grey levels are
    allowed, as in training) and the KL to N(0, I) from kl_divergence, accumulated in float64.
    """
    rec = kl = 0.0
    with torch.no_grad():
        for i in range(x.shape[0]):
            mu, logvar = model.encode(x[i : i + 1])
            q = Normal(mu, torch.exp(0.5 * logvar))
            z = q.loc + q.scale * eps[i]
            rec -= Bernoulli(logits=model.decode(z), validate_args=False).log_prob(x[i : i + 1]).sum().double().item()
            kl += kl_divergence(q, Normal(0.0, 1.0)).sum().double().item()
    return rec / x.shape[0], kl / x.shape[0]


def test_heldout_elbo_matches_torch_distributions_with_the_seeded_noise(model, images):
    x = images[1000:1030]
    result = heldout_elbo(model, x, seed=4)  # the default batch holds all 30 images: one draw of eps
    eps = torch.randn((x.shape[0], CONFIG.latent_dim), generator=torch.Generator().manual_seed(4))
    rec, kl = reference_elbo_terms(model, x, eps)
    assert result.reconstruction == pytest.approx(rec, rel=1e-5)
    assert result.kl == pytest.approx(kl, rel=1e-5)
    assert result.elbo == pytest.approx(-(rec + kl), rel=1e-5)


@pytest.mark.parametrize("batch_size", [1000, 7, 1])
def test_heldout_elbo_matches_torch_distributions_for_every_batch_size(model, images, batch_size, monkeypatch):
    """The same per-image noise whatever the batching (see the batching test below for why the
    real stream differs): a stand-in for torch.randn hands out rows of one (N, J) array in order."""
    x = images[1000:1030]
    eps = torch.randn(x.shape[0], CONFIG.latent_dim, generator=torch.Generator().manual_seed(5))
    offset = 0

    def fixed_noise(shape, *, dtype=None, device=None, generator=None):
        nonlocal offset
        assert tuple(shape)[1:] == (CONFIG.latent_dim,)
        out = eps[offset : offset + shape[0]]
        offset += shape[0]
        return out.to(dtype=dtype, device=device)

    monkeypatch.setattr(torch, "randn", fixed_noise)
    result = heldout_elbo(model, x, batch_size=batch_size)
    monkeypatch.undo()
    assert offset == x.shape[0]  # one draw per image, no more
    rec, kl = reference_elbo_terms(model, x, eps)
    assert result.reconstruction == pytest.approx(rec, rel=1e-5)
    assert result.kl == pytest.approx(kl, rel=1e-5)
    assert result.elbo == pytest.approx(-(rec + kl), rel=1e-5)


def test_heldout_elbo_kl_does_not_depend_on_the_noise(model, images):
    x = images[1000:1030]
    a, b = heldout_elbo(model, x, seed=0), heldout_elbo(model, x, seed=1)
    assert a.kl == pytest.approx(b.kl, rel=1e-6)  # closed form
    assert a.reconstruction != b.reconstruction  # one sample of z per image
    assert heldout_elbo(model, x, seed=0) == a  # same seed, same numbers


# --- The importance-sampled log-likelihood ------------------------------------------------------


def test_k1_is_the_one_sample_elbo_estimate_with_the_same_noise(model, images):
    x = D.binarize(images[1000:1020])  # binary, so Bernoulli.log_prob is a proper density here
    estimate = importance_sampled_log_likelihood(model, x, k=1, seed=3)
    # by hand, reproducing the function's noise: one generator seeded with `seed`, and all images
    # in one batch (the default batch holds 50,000 // k images), eps drawn with shape (k, B, J)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn((1, *mu.shape), generator=g)[0]
        log_px_z = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
        log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_qz = Normal(mu, std).log_prob(z).sum(-1)
    torch.testing.assert_close(estimate, log_px_z + log_pz - log_qz, rtol=1e-5, atol=1e-3)


def test_k1_averages_to_the_heldout_elbo(model, images):
    """Both estimate the same mean ELBO (one with a Monte Carlo KL, one with the closed form)."""
    x = images[1000:1064]
    iw = torch.tensor([importance_sampled_log_likelihood(model, x, k=1, seed=s).mean().item() for s in range(20)])
    he = torch.tensor([heldout_elbo(model, x, seed=100 + s).elbo for s in range(20)])
    # independent runs: the standard error of the difference of the two means, from the spread over seeds
    se = math.sqrt(iw.var() / len(iw) + he.var() / len(he))
    assert abs(iw.mean() - he.mean()) < 5 * se


def test_the_estimate_does_not_decrease_with_k(model, images):
    x, seeds = images[1000:1048], range(5)
    est = {k: torch.stack([importance_sampled_log_likelihood(model, x, k, seed=s) for s in seeds]).mean(0)
           for k in (1, 10, 100)}  # per-image means over seeds, (N,)

    def gain(a, b):
        # per-image differences are independent across images and each has expectation >= 0
        # (Burda et al., Theorem 1), so their mean is judged against its own standard error
        d = est[b] - est[a]
        return d.mean().item(), d.std().item() / math.sqrt(d.numel())

    for a, b in ((1, 10), (10, 100)):
        mean, se = gain(a, b)
        assert mean > -3 * se
    mean, se = gain(1, 100)
    assert mean > 3 * se  # with a non-exact posterior the bound really tightens (here by ~20 nats)


def test_the_estimate_is_exact_when_q_is_the_posterior():
    """A decoder that ignores z and an encoder that returns the prior: every weight w = p(x) exactly."""
    R.seed_everything(0)
    m = VAE(CONFIG)
    with torch.no_grad():
        m.encoder_head.weight.zero_()
        m.encoder_head.bias.zero_()  # q(z|x) = N(0, I) = p(z) = p(z|x), since x and z are independent
        m.decoder[-1].weight.zero_()  # logits = bias, whatever z is
        m.decoder[-1].bias.copy_(torch.linspace(-3, 3, 784))
    x = D.binarize(torch.rand(6, 784, generator=torch.Generator().manual_seed(0)))
    log_px = Bernoulli(logits=m.decoder[-1].bias.detach()).log_prob(x).sum(-1)
    for k in (1, 10):
        torch.testing.assert_close(importance_sampled_log_likelihood(m, x, k), log_px, rtol=1e-5, atol=1e-3)
    result = heldout_elbo(m, x)
    assert result.kl == 0.0
    assert result.elbo == pytest.approx(log_px.mean().item(), rel=1e-6)


def test_batching_does_not_change_the_per_image_result(model, images, monkeypatch):
    """Batching must only partition the images.

    The real noise stream does depend on batching: the function draws eps with shape
    (k, B, J), so for k > 1 image i's samples sit at different stream offsets for different
    B, and torch's CPU normal sampler fills tensors in blocks of 16 (Box-Muller pairs at i and
    i + 8), so even for k = 1 two chunks are not the stream of one whole draw unless their sizes
    happen to align. So the test fixes each image's noise instead: a stand-in for torch.randn
    hands out slices of one (k, N, J) array in image order. With the same noise per image every
    batch size must give the same per-image estimates; a batching bug (mixing images, reducing
    over the wrong axis, misordering the concatenation) would break that.
    """
    x, k = images[1000:1013], 6
    eps = torch.randn(k, x.shape[0], CONFIG.latent_dim, generator=torch.Generator().manual_seed(0))
    real_randn = torch.randn

    def run(batch_size):
        offset = 0

        def fixed_noise(shape, *, dtype=None, device=None, generator=None):
            nonlocal offset
            assert tuple(shape[::2]) == (k, CONFIG.latent_dim)
            out = eps[:, offset : offset + shape[1]]
            offset += shape[1]
            return out.to(dtype=dtype, device=device)

        monkeypatch.setattr(torch, "randn", fixed_noise)
        try:
            return importance_sampled_log_likelihood(model, x, k, batch_size=batch_size)
        finally:
            monkeypatch.setattr(torch, "randn", real_randn)

    whole = run(x.shape[0])
    for batch_size in (1, 4, 5, 100):
        torch.testing.assert_close(run(batch_size), whole, rtol=1e-5, atol=1e-4)
    # and the same noise through log_importance_weights directly: a log-mean-exp over the k axis
    with torch.no_grad():
        monkeypatch.setattr(torch, "randn", lambda shape, **kw: eps)
        logw = log_importance_weights(model, x, k)
        monkeypatch.setattr(torch, "randn", real_randn)
    assert logw.shape == (k, x.shape[0])
    torch.testing.assert_close(whole, torch.logsumexp(logw, 0) - math.log(k), rtol=1e-5, atol=1e-4)


def test_same_seed_and_batch_size_give_identical_estimates(model, images):
    x = images[1000:1020]
    a = importance_sampled_log_likelihood(model, x, 8, batch_size=6, seed=2)
    assert torch.equal(a, importance_sampled_log_likelihood(model, x, 8, batch_size=6, seed=2))
    assert not torch.equal(a, importance_sampled_log_likelihood(model, x, 8, batch_size=6, seed=3))
    assert a.shape == (20,)


@pytest.mark.parametrize("k", [0, -1, 2.5, "10"])
def test_k_must_be_a_positive_integer(model, images, k):
    wrong_type = type(k) is not int
    with pytest.raises(TypeError if wrong_type else ValueError,
                       match="k must be an int" if wrong_type else "k must be a positive integer"):
        importance_sampled_log_likelihood(model, images[:2], k)


def test_evaluation_rejects_bad_images(model):
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        importance_sampled_log_likelihood(model, torch.zeros(2, 784, dtype=torch.uint8), 1)
    with pytest.raises(ValueError, match="x contains NaN"):
        heldout_elbo(model, torch.full((2, 784), math.nan))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 784\)"):
        heldout_elbo(model, torch.rand(2, 783))
