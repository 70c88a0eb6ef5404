"""The "looks like a digit" measure (vae_lib.chapters.digit_score)."""
from __future__ import annotations

import math

import pytest
import torch

import vae_lib
from vae_lib.chapters import digit_score as ds


@pytest.fixture(scope="module")
def data():
    split = vae_lib.data.load_dataset("embedded")
    return split


@pytest.fixture(scope="module")
def classifier(data):
    torch.set_num_threads(1)
    return ds.fit_digit_classifier(data.train.images, data.train.labels, seed=0, epochs=5)


def test_classifier_learns_the_digits(classifier, data):
    assert ds.accuracy(classifier, data.heldout.images, data.heldout.labels) > 88


def test_real_digits_score_high_and_one_class_scores_one(classifier, data):
    real = ds.score_images(classifier, data.heldout.images)
    assert real.confident_share > 60 and real.class_entropy > 2.1 and real.classifier_score > 6
    assert sum(real.counts) == round(real.confident_share / 100 * data.heldout.images.shape[0])
    ones = data.heldout.images[data.heldout.labels == 1]
    only_ones = ds.score_images(classifier, ones)
    assert only_ones.class_entropy < 0.3 and only_ones.classifier_score < 1.5


def test_noise_cannot_score_like_digits(classifier, data):
    noise = ds.score_images(classifier, torch.rand(500, 784, generator=torch.Generator().manual_seed(0)))
    real = ds.score_images(classifier, data.heldout.images)
    assert noise.classifier_score < real.classifier_score - 3
    assert noise.class_entropy < real.class_entropy


def test_score_formulas_on_a_known_classifier():
    """A classifier whose logits are the first ten pixels: the score follows from its softmax by hand."""
    clf = ds.DigitClassifier(input_dim=10, hidden_dim=10)
    with torch.no_grad():
        clf.net[0].weight.copy_(torch.eye(10))
        clf.net[0].bias.zero_()
        clf.net[2].weight.copy_(30 * torch.eye(10))
        clf.net[2].bias.zero_()
    x = torch.eye(10)[[0, 0, 1, 2]]          # three classes, confident
    s = ds.score_images(clf, x)
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    assert s.confident_share == 100 and s.counts[:3] == (2, 1, 1)
    assert math.isclose(s.class_entropy, float(-(p * p.log()).sum()), rel_tol=1e-9)
    assert math.isclose(s.classifier_score, math.exp(s.class_entropy), rel_tol=1e-6)  # confident: KL -> H(p(y))
    flat = ds.score_images(clf, torch.zeros(3, 10))       # every class 1/10: nothing confident, score 1
    assert flat.confident_share == 0 and flat.class_entropy == 0 and math.isclose(flat.classifier_score, 1, rel_tol=1e-9)


@pytest.mark.parametrize("images, message", [
    (torch.rand(3, 5), "shape"),
    (torch.rand(784), "shape"),
    (torch.full((2, 784), float("nan")), "NaN or inf"),
    (torch.full((2, 784), 1.5), r"\[0, 1\]"),
    (torch.empty(0, 784), "empty"),
])
def test_bad_images(classifier, images, message):
    with pytest.raises(ValueError, match=message):
        ds.score_images(classifier, images)


def test_bad_arguments(classifier, data):
    x = data.heldout.images[:4]
    for threshold in (0.0, 1.0, 2, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            ds.score_images(classifier, x, threshold=threshold)
    with pytest.raises(TypeError, match="classifier"):
        ds.score_images(torch.nn.Linear(784, 10), x)
    with pytest.raises(ValueError, match="labels"):
        ds.accuracy(classifier, x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="labels"):
        ds.fit_digit_classifier(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="epochs"):
        ds.fit_digit_classifier(x, data.heldout.labels[:4], epochs=0)
    with pytest.raises(ValueError, match="lr"):
        ds.fit_digit_classifier(x, data.heldout.labels[:4], lr=-1.0)


def test_fitted_gaussian_codes_have_the_codes_moments():
    from vae_lib.chapters import latent
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5000, 3, generator=g, dtype=torch.float64) @ torch.tensor([[2.0, 0, 0], [1, 1, 0], [0, 0.5, 3]], dtype=torch.float64) + 4
    eps = torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    draws = latent.fitted_gaussian_codes(z, eps)
    assert torch.allclose(draws.mean(0), z.mean(0), atol=0.03)
    assert torch.allclose(torch.cov(draws.T), torch.cov(z.T), rtol=0.02, atol=0.03)
    with pytest.raises(ValueError, match="eps"):
        latent.fitted_gaussian_codes(z, torch.randn(4, 2, dtype=torch.float64))
