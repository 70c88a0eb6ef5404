"""The latent space of the AE and the VAE: codes, random codes, interpolations (planes: :mod:`.code_plane`).

Introduced in chapter 1 (the auto-encoder's codes, decoding random codes, the
latent explorer, the symmetry of the codes) and chapter 2 (sampled codes, two
decoders trained on different data). Codes are ``e(x)`` for an
:class:`~vae_lib.AutoEncoder` and the encoder mean ``mu(x)`` for a
:class:`~vae_lib.VAE`; images are pixel means in [0, 1], ``sigmoid`` of the
decoder's logits.

Introduced in chapter 1 (the auto-encoder), and used again in chapter 2.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple, cast

import torch
from torch import Tensor, nn

from .._checks import (
    check_bool,
    check_callable,
    check_choice,
    check_fraction,
    check_generator,
    check_instance,
    check_int,
    check_positive_int,
    check_tensor,
    reduce_batch,
)
from ..models import VAE, AutoEncoder, reparameterize
from ..training import Objective, fit

Model = AutoEncoder | VAE


def _check_model(model: object, name: str = "model") -> None:
    check_instance(name, model, (AutoEncoder, VAE), "a vae_lib AutoEncoder or VAE")


def _check_matrix(name: str, t: object, cols: int | None = None) -> Tensor:
    t = check_tensor(name, t)
    if t.dim() != 2 or (cols is not None and t.shape[1] != cols):
        raise ValueError(f"{name} must have shape (N, {cols if cols is not None else 'J'}), got {tuple(t.shape)}")
    return t


# --- Codes and images -----------------------------------------------------------------


@torch.no_grad()
def encode_codes(model: Model, x: Tensor, sample: bool = False, generator: torch.Generator | None = None,
                 batch_size: int = 1000) -> Tensor:
    """The code of each image, x: (N, D) -> (N, J).

    AE: ``e(x)``. VAE: the encoder mean ``mu(x)``, or with ``sample=True`` one
    draw ``z ~ q(z|x)`` per image (draws over a data set follow the aggregate posterior).
    """
    _check_model(model)
    _check_matrix("x", x, model.config.input_dim)
    check_bool("sample", sample)
    check_positive_int("batch_size", batch_size)
    if sample and not isinstance(model, VAE):
        raise ValueError("sample=True needs a VAE: an auto-encoder's code is deterministic")
    x = x.to(model.device)
    out = []
    for start in range(0, x.shape[0], batch_size):
        if isinstance(model, VAE):
            mu, logvar = model.encode(x[start : start + batch_size])
            code = reparameterize(mu, logvar, generator=generator) if sample else mu  # eq. reparameterisation
        else:
            code = model.code(x[start : start + batch_size])
        out.append(code)
    return torch.cat(out)


@torch.no_grad()
def decode_images(model: Model, z: Tensor, batch_size: int = 1000) -> Tensor:
    """Pixel means ``sigmoid(f(z))`` of codes z: (N, J) -> images (N, D) in [0, 1]."""
    _check_model(model)
    _check_matrix("z", z, model.config.latent_dim)
    check_positive_int("batch_size", batch_size)
    z = z.to(model.device)
    # eq. ae-decoder: x_hat = sigmoid(f(z))
    return torch.cat([torch.sigmoid(model.decode(z[s : s + batch_size])) for s in range(0, z.shape[0], batch_size)])


def random_codes(n: int, reference: Tensor, kind: str = "gaussian",
                 generator: torch.Generator | None = None) -> Tensor:
    """n codes that ignore where the data's codes lie: (n, J), J taken from ``reference`` (M, J).

    ``"gaussian"``: z ~ N(0, I), the VAE's prior. ``"box"``: z uniform in the
    smallest axis-aligned box that holds every reference code.
    """
    check_positive_int("n", n)
    _check_matrix("reference", reference)
    check_choice("kind", kind, ("gaussian", "box"))
    check_generator("generator", generator, reference.device)
    shape = (n, reference.shape[1])
    if kind == "gaussian":
        return torch.randn(shape, dtype=reference.dtype, device=reference.device, generator=generator)
    lo, hi = reference.min(0).values, reference.max(0).values
    u = torch.rand(shape, dtype=reference.dtype, device=reference.device, generator=generator)
    return lo + (hi - lo) * u


def prior_radius(latent_dim: int, mass: float = 0.99) -> float:
    """Radius of the ball around 0 that holds ``mass`` of N(0, I_J): the chi_J quantile.

    ``P(||z|| <= r) = P(J/2, r^2/2)``, the regularised lower incomplete gamma
    function, inverted by bisection (to about 1e-12).
    """
    check_positive_int("latent_dim", latent_dim)
    check_fraction("mass", mass)
    half_j = torch.tensor(latent_dim / 2, dtype=torch.float64)
    lo, hi = 0.0, latent_dim**0.5 + 40.0  # the chi_J tail beyond sqrt(J) + 40 is below 1e-300
    for _ in range(100):
        mid = (lo + hi) / 2
        if float(torch.special.gammainc(half_j, torch.tensor(mid * mid / 2, dtype=torch.float64))) < mass:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def nearest_distances(a: Tensor, b: Tensor, batch_size: int = 1024) -> Tensor:
    """Euclidean distance from each row of a (N, K) to its nearest row of b (M, K): (N,)."""
    _check_matrix("a", a)
    _check_matrix("b", b, a.shape[1])
    check_positive_int("batch_size", batch_size)
    b = b.to(a.device, a.dtype)
    return torch.cat([torch.cdist(a[s : s + batch_size], b).min(1).values for s in range(0, a.shape[0], batch_size)])


def interpolate(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """``steps`` codes evenly spaced on the segment from z0 to z1 (both (J,)), ends included: (steps, J)."""
    check_tensor("z0", z0)
    check_tensor("z1", z1)
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ValueError(f"z0 and z1 must both have shape (J,), got {tuple(z0.shape)} and {tuple(z1.shape)}")
    check_int("steps", steps, low=2)  # the two ends
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


def whitening(z: Tensor) -> tuple[Tensor, Tensor]:
    """The map ``z -> A z + c`` that gives codes z (N, J) mean 0 and covariance I: ``A = L^-1``, ``c = -L^-1 m``.

    ``m`` and ``C = L L^T`` are the mean and covariance of ``z``; pass ``(A, c)`` to :func:`transform_codes`
    to apply it to a model (eq. ae-code-symmetry), or use ``z @ A.T + c`` on codes.
    """
    _check_matrix("z", z)
    if z.shape[0] <= z.shape[1]:
        raise ValueError(f"z must hold more codes than dimensions to have a covariance, got {tuple(z.shape)}")
    a = torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T)))
    return a, -a @ z.mean(0)


def fitted_gaussian_codes(z: Tensor, eps: Tensor) -> Tensor:
    """Draws of the Gaussian fitted to codes z (N, J), from standard normal noise eps (n, J): ``m + T eps``,
    with m and ``T T^T`` the mean and covariance of z (the inverse of :func:`whitening`): (n, J)."""
    _check_matrix("z", z)
    _check_matrix("eps", eps, z.shape[1])
    if z.shape[0] <= z.shape[1]:
        raise ValueError(f"z must hold more codes than dimensions to have a covariance, got {tuple(z.shape)}")
    t = torch.linalg.cholesky(torch.cov(z.T))
    return z.mean(0) + eps.to(z.device, z.dtype) @ t.T


def transform_codes(model: Model, matrix: Tensor, shift: Tensor | None = None) -> Model:
    """A copy of ``model`` whose codes are ``A z + c`` and whose decoder undoes the map: ``d(A^-1 (z - c))``.

    matrix A: (J, J), shift c: (J,) (default 0). For an AE any invertible A gives
    the same reconstructions, hence the same loss. For a VAE, A must be a signed
    permutation and c = 0: only those maps keep the prior N(0, I) and the diagonal
    family of q(z|x), so the ELBO is unchanged (mu -> A mu, log sigma^2 -> |A| log sigma^2).
    """
    _check_model(model)
    j = model.config.latent_dim
    check_tensor("matrix", matrix)
    shift = torch.zeros(j, dtype=matrix.dtype, device=matrix.device) if shift is None else check_tensor("shift", shift)
    if matrix.shape != (j, j) or shift.shape != (j,):
        raise ValueError(f"matrix must be ({j}, {j}) and shift ({j},), got {tuple(matrix.shape)}, {tuple(shift.shape)}")
    a, c = matrix.double(), shift.double()
    if isinstance(model, VAE):
        signed_perm = bool(((a == 0) | (a.abs() == 1)).all()) and bool((a.abs().sum(0) == 1).all()) \
            and bool((a.abs().sum(1) == 1).all())
        if not signed_perm or bool(c.any()):
            raise ValueError("for a VAE, matrix must be a signed permutation and shift zero: other maps change "
                             "the prior N(0, I) or leave the diagonal Gaussian family")
    inverse = torch.linalg.inv(a)  # raises on a singular matrix
    new = copy.deepcopy(model)
    # produces the code (new is a copy of model: the same type)
    last = cast(nn.Linear, new.encoder_head if isinstance(new, VAE) else new.encoder[-1])
    first = cast(nn.Linear, new.decoder[0])  # consumes it
    with torch.no_grad():
        # eq. ae-code-symmetry: z' = A z + c and d'(z') = d(A^-1 (z' - c))
        out = torch.block_diag(a, a.abs()) if isinstance(model, VAE) else a  # VAE head: [mu; logvar]
        shift_out = torch.cat([c, torch.zeros_like(c)]) if isinstance(model, VAE) else c
        w_dec = first.weight.double() @ inverse
        last.bias.copy_(out @ last.bias.double() + shift_out)
        last.weight.copy_(out @ last.weight.double())
        first.bias.copy_(first.bias.double() - w_dec @ c)
        first.weight.copy_(w_dec)
    return new


def bernoulli_entropy(x: Tensor, reduction: str = "mean") -> Tensor:
    """``-sum_i [x_i log x_i + (1 - x_i) log(1 - x_i)]`` over pixels, x: (B, D) in [0, 1] -> (B,).

    The smallest value the Bernoulli cross-entropy of grey-level images can take
    (at x_hat = x): cross-entropy = this entropy + sum_i KL(Bern(x_i) || Bern(x_hat_i)).
    """
    _check_matrix("x", x)
    if bool(((x < 0) | (x > 1)).any()):
        raise ValueError("x must lie in [0, 1]: its pixels are Bernoulli means")
    # eq. ae-loss-floor, with 0 log 0 = 0 at black and white pixels
    h = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).sum(-1)
    return reduce_batch(h, reduction)


# --- A Gaussian fitted to the auto-encoder's codes (chapters 1 and 2) --------------------

FITTED_GAUSSIAN_SEED = 7  # the seed of the Gaussian codes: one measurement, the same in every chapter
FITTED_GAUSSIAN_COUNT = 1000  # how many Gaussian codes are drawn
HELDOUT_QUANTILE = 0.99  # the held-out digits' distance quantile that sets the line


class FittedGaussianOutliers(NamedTuple):
    """How far codes drawn from a Gaussian fitted to an auto-encoder's codes fall from the training codes.

    All codes are in whitened coordinates (``w = A z + c``, :func:`whitening` of the training codes),
    where the fitted Gaussian is ``N(0, I)`` and distances are in units of the codes' own spread.
    """

    matrix: Tensor  # A: (J, J)
    shift: Tensor  # c: (J,)
    train: Tensor  # (N, J) whitened training codes
    heldout: Tensor  # (M, J) whitened held-out codes
    samples: Tensor  # (n, J) draws of N(0, I) in whitened coordinates
    d_heldout: Tensor  # (M,) distance of each held-out code to its nearest training code
    d_samples: Tensor  # (n,) the same for each draw
    line: Tensor  # () the HELDOUT_QUANTILE quantile of d_heldout
    share: float  # percentage of draws farther than the line


def fitted_gaussian_outliers(ae: AutoEncoder, x_train: Tensor, x_heldout: Tensor,
                             n: int = FITTED_GAUSSIAN_COUNT, seed: int = FITTED_GAUSSIAN_SEED,
                             quantile: float = HELDOUT_QUANTILE) -> FittedGaussianOutliers:
    """The share of Gaussian codes, fitted to ``ae``'s training codes, farther from every training code
    than ``quantile`` of the held-out digits' codes are (chapter 1's measurement, repeated in chapter 2).

    x_train: (N, D), x_heldout: (M, D). The n draws come from a generator seeded with ``seed`` on the
    model's device, so two chapters that train the same auto-encoder read the same number.
    """
    check_instance("ae", ae, AutoEncoder, "a vae_lib AutoEncoder")
    check_positive_int("n", n)
    check_int("seed", seed)
    check_fraction("quantile", quantile)
    z_train, z_heldout = encode_codes(ae, x_train), encode_codes(ae, x_heldout)
    a, c = whitening(z_train)
    w_train, w_heldout = z_train @ a.T + c, z_heldout @ a.T + c
    g = torch.Generator(device=w_train.device).manual_seed(seed)
    samples = random_codes(n, w_train, "gaussian", generator=g)
    d_heldout = nearest_distances(w_heldout, w_train)
    d_samples = nearest_distances(samples, w_train)
    line = torch.quantile(d_heldout, quantile)
    share = 100 * float((d_samples > line).float().mean())
    return FittedGaussianOutliers(a, c, w_train, w_heldout, samples, d_heldout, d_samples, line, share)


# --- Decoders trained on different data (chapter 2) -----------------------------------


def fit_on_subsets(make_model: Callable[[], nn.Module], objective: Objective, x: Tensor,
                   masks: dict[str, Tensor], *, epochs: int, seed: int = 0, **fit_kwargs) -> dict[str, nn.Module]:
    """One fresh model per boolean mask (N,) over x (N, D), each trained on its rows only.

    Model ``k`` (in the order of ``masks``) is initialised after ``torch.manual_seed(seed + k)``
    and shuffled with ``seed + k``, so each gets its own seed; extra arguments go to :func:`fit`.
    """
    _check_matrix("x", x)
    check_callable("make_model", make_model, "a callable returning a fresh model")
    check_instance("masks", masks, dict, "a dict of name -> boolean tensor over the rows of x")
    if not masks:
        raise ValueError("masks must hold at least one mask")
    for name, mask in masks.items():  # all checked before the first model trains
        check_instance(f"masks[{name!r}]", mask, Tensor, "a torch.Tensor")
        if mask.dtype != torch.bool:
            raise TypeError(f"masks[{name!r}] must be a boolean tensor, got {mask.dtype}")
        if mask.shape != x.shape[:1]:
            raise ValueError(f"masks[{name!r}] must have shape ({x.shape[0]},), got {tuple(mask.shape)}")
        if not bool(mask.any()):
            raise ValueError(f"masks[{name!r}] selects no rows")
    models = {}
    for k, (name, mask) in enumerate(masks.items()):
        torch.manual_seed(seed + k)
        model = make_model()
        fit(model, objective, x[mask.to(x.device)], epochs=epochs, seed=seed + k, **fit_kwargs)
        models[name] = model
    return models


def decoder_disagreement(model_a: Model, model_b: Model, z: Tensor) -> dict[str, float]:
    """How differently two decoders read the same codes z (N, J), N >= 2; mean |pixel difference|.

    ``across``: between a(z_k) and b(z_k), the same code in both decoders.
    ``within_a``, ``within_b``: between d(z_k) and d(z_{k+1}), two different
    codes in one decoder, the scale against which ``across`` is judged.
    """
    # checked here under the caller's names: decode_images would call either of them "model"
    _check_model(model_a, "model_a")
    _check_model(model_b, "model_b")
    _check_matrix("z", z)
    if z.shape[0] < 2:
        raise ValueError("z must hold at least two codes")
    for name, m in (("model_a", model_a), ("model_b", model_b)):
        if z.shape[1] != m.config.latent_dim:
            raise ValueError(f"z must have shape (N, {m.config.latent_dim}) for {name}, got {tuple(z.shape)}")
    ia, ib = decode_images(model_a, z), decode_images(model_b, z).to(model_a.device)
    gap = lambda p, q: float((p - q).abs().mean())  # noqa: E731
    return {"across": gap(ia, ib), "within_a": gap(ia, ia.roll(1, 0)), "within_b": gap(ib, ib.roll(1, 0))}


__all__ = [
    "bernoulli_entropy",
    "decode_images",
    "decoder_disagreement",
    "encode_codes",
    "fit_on_subsets",
    "fitted_gaussian_outliers",
    "FittedGaussianOutliers",
    "interpolate",
    "nearest_distances",
    "prior_radius",
    "random_codes",
    "transform_codes",
    "whitening",
]
