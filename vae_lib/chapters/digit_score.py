"""A measure of "looks like a digit" for decoded samples (chapters 1 and 2).

A small classifier is trained on the embedded training digits; a set of images is
then scored by how many of them it classifies confidently, and by how evenly those
confident images cover the ten classes. Neither number judges sharpness, and a
classifier can be confident about shapes no person would read as digits (a plain
MLP calls most uniform noise a confident "2"): noise is scored alongside every model,
and the classifier score of Salimans et al. (2016), which needs confidence *and*
variety, is reported beside the two.

Introduced in chapter 1; chapter 2 scores its samples the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from .._checks import check_fraction, check_instance, check_int, check_positive_int, check_positive_number, check_tensor

CONFIDENCE = 0.9  # a sample counts as a digit when the classifier gives one class at least this probability
N_CLASSES = 10
HIDDEN = 256  # one hidden layer: enough for about 93 % held-out accuracy on the embedded digits


@dataclass(frozen=True)
class DigitScore:
    """The score of a set of images.

    confident_share: percentage of images whose top class has probability >= threshold.
    class_entropy: entropy (nats) of the predicted classes of the confident images;
        log 10 = 2.30 when they cover the ten digits evenly, 0 when all are one digit.
    counts: (10,) how many confident images each class received.
    classifier_score: exp(E_x KL(p(y|x) || p(y))), p(y) the average prediction (Salimans et al.
        2016's score, with this classifier): 1 when every image gets the same prediction, 10 at
        most, high only when images are both confidently classified and spread over the classes.
    """

    confident_share: float
    class_entropy: float
    classifier_score: float
    counts: tuple[int, ...]
    threshold: float


class DigitClassifier(nn.Module):
    """D-HIDDEN-10 ReLU network; ``forward`` returns logits (B, 10)."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = HIDDEN) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, N_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _check_images(name: str, images: object, dim: int | None = None) -> Tensor:
    images = check_tensor(name, images)  # a float tensor, finite, not empty
    if images.dim() != 2 or (dim is not None and images.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(images.shape)}")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{float(images.min()):.3g}, {float(images.max()):.3g}]")
    return images


def _check_labels(labels: object, n: int) -> Tensor:
    check_instance("labels", labels, Tensor, "a torch.Tensor")
    labels = cast(Tensor, labels)
    if labels.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise TypeError(f"labels must have an integer dtype, got {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError(f"labels must lie in 0..{N_CLASSES - 1}")
    return labels.long()


def fit_digit_classifier(images: Tensor, labels: Tensor, seed: int = 0, epochs: int = 15,
                         batch_size: int = 64, lr: float = 1e-3) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on images (N, 784) in [0, 1] and labels (N,) with Adam; deterministic
    given ``seed`` on one machine. Returns it in eval mode, on the images' device."""
    images = _check_images("images", images)
    labels = _check_labels(labels, images.shape[0]).to(images.device)
    check_int("seed", seed)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_number("lr", lr)
    torch.manual_seed(seed)
    model = DigitClassifier(images.shape[1]).to(images.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator(device=images.device).manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=g, device=images.device)
        for s in range(0, images.shape[0], batch_size):
            idx = order[s : s + batch_size]
            loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def accuracy(classifier: DigitClassifier, images: Tensor, labels: Tensor) -> float:
    """Percentage of images (N, 784) whose top class is their label (N,)."""
    check_instance("classifier", classifier, DigitClassifier, "a DigitClassifier")
    images = _check_images("images", images)
    labels = _check_labels(labels, images.shape[0]).to(images.device)
    with torch.no_grad():
        return 100 * float((classifier(images).argmax(1) == labels).float().mean())


def score_images(classifier: DigitClassifier, images: Tensor, threshold: float = CONFIDENCE) -> DigitScore:
    """Score images (N, 784) in [0, 1]: the share classified with confidence >= threshold, and the
    entropy of the classes those confident images receive."""
    check_instance("classifier", classifier, DigitClassifier, "a DigitClassifier")
    images = _check_images("images", images, cast(nn.Linear, classifier.net[0]).in_features)
    threshold = check_fraction("threshold", threshold)
    with torch.no_grad():
        probs = torch.softmax(classifier(images), dim=1)
    top, cls = probs.max(1)
    confident = top >= threshold
    counts = torch.bincount(cls[confident], minlength=N_CLASSES).double()
    share = counts / counts.sum() if counts.sum() > 0 else counts
    entropy = float(-(share[share > 0] * share[share > 0].log()).sum())
    p = probs.double().clamp_min(1e-30)
    kl = (p * (p.log() - p.mean(0).log())).sum(1)  # KL(p(y|x) || p(y)) per image
    return DigitScore(100 * float(confident.double().mean()), entropy, float(kl.mean().exp()),
                      tuple(int(c) for c in counts), threshold)
