"""Draw a digit: a trained VAE's encoder and decoder run in the page, with the ELBO's terms for the drawing.

The reader draws on a 28 x 28 canvas (or loads a held-out digit); the page centres the ink as MNIST was
centred, encodes it, draws q(z|x) on the principal plane of the training codes, decodes its mean and k
reparameterised samples, and computes the reconstruction term, the closed-form KL, the ELBO and a k-sample
importance-sampled log p(x). This module is vae_lib's copy of every step: the brush, the centring, and the
numbers from the very weights the page holds (the browser test compares the two).

Introduced in chapter 7.
"""
from __future__ import annotations

import base64
import math
import zlib
from typing import cast

import numpy as np
import torch
from torch import Tensor

from .._checks import check_choice, check_instance, check_int, check_positive_int, check_tensor, check_text
from ..book import live, noise
from ..book.live import LiveExplorer, Slider
from ..divergences import kl_units
from ..evaluation import log_mean_exp
from ..models import VAE
from ..objectives import log_likelihood, normal_log_prob
from .code_plane import principal_plane

SIDE = 28
CENTRE = 14  # MNIST put each digit's centre of mass at pixel (14, 14), rows and columns counted from 0
BRUSH = 1.0  # the brush's full-ink radius in pixels; the ink fades to 0 over one more pixel (MNIST's grey edges)
STEP = 0.25  # pixels between the stamps that join two pointer positions
# What the page's encoder (int8 weights) may differ from the trained one by, per unit of mu and of log sigma^2,
# over the held-out digits; chapter 7 checks both on every run.
MAX_CODE_ERROR = 0.1
# Bits per weight, per Linear layer, so that both halves fit in one page of 1 MB within the budgets above:
# the two large matrices (784 x 400 in, 400 x 784 out) take fewer, the small ones 8.
ENCODER_BITS, DECODER_BITS = (6, 8), (8, 7)


def stroke_ink(strokes: list[list[tuple[float, float]]], side: int = SIDE) -> Tensor:
    """The grey image (side * side,) that the page's brush paints along ``strokes``.

    Each stroke is a list of (column, row) positions in pixels (0 to side, the canvas's own units). A stamp
    at p inks pixel (r, c), whose centre is (c + 0.5, r + 0.5), to ``clip(BRUSH + 1 - distance, 0, 1)``,
    keeping the darker of old and new ink; consecutive positions are joined by stamps every STEP pixels.
    """
    check_positive_int("side", side)
    check_instance("strokes", strokes, (list, tuple), "a list of strokes, each a list of (column, row) points")
    ink = np.zeros((side, side))
    centres = np.arange(side) + 0.5
    for i, stroke in enumerate(strokes):
        points = np.asarray(stroke, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or not len(points) or not np.isfinite(points).all():
            raise ValueError(f"strokes[{i}] must be a non-empty list of finite (column, row) points")
        stamps = [points[0]]
        for a, b in zip(points[:-1], points[1:]):
            n = max(1, math.ceil(np.hypot(*(b - a)) / STEP))
            stamps.extend(a + (b - a) * t for t in np.arange(1, n + 1) / n)
        for u, v in stamps:
            d = np.hypot(centres[None, :] - u, centres[:, None] - v)
            ink = np.maximum(ink, np.clip(BRUSH + 1 - d, 0, 1))
    return torch.from_numpy(ink.reshape(-1))


def centre(x: Tensor, side: int = SIDE) -> Tensor:
    """x (side * side,) shifted by whole pixels so that its centre of mass rounds to (CENTRE, CENTRE).

    Every MNIST digit already has its centre of mass within half a pixel of (14, 14), so this leaves them
    unchanged (chapter 7 checks it on every held-out digit) and moves a drawing to where the encoder saw
    digits. Ink shifted off the canvas is lost; a blank image is returned as it is.
    """
    x = check_tensor("x", x)
    if x.shape != (side * side,):
        raise ValueError(f"x must have shape ({side * side},), got {tuple(x.shape)}")
    image = x.reshape(side, side)
    mass = image.sum()
    if mass <= 0:
        return x.clone()
    index = torch.arange(side, dtype=x.dtype)
    row = (image.sum(1) * index).sum() / mass
    col = (image.sum(0) * index).sum() / mass
    # the page rounds as Math.round does (halves up)
    dr, dc = CENTRE - math.floor(row.item() + 0.5), CENTRE - math.floor(col.item() + 0.5)
    out = torch.zeros_like(image)
    rs, cs = slice(max(0, dr), min(side, side + dr)), slice(max(0, dc), min(side, side + dc))
    out[rs, cs] = image[max(0, -dr):min(side, side - dr), max(0, -dc):min(side, side - dc)]
    return out.reshape(-1)


def inked_pixels(x_train: Tensor) -> Tensor:
    """The indices of the pixels that some training image inks (x > 0).

    The encoder's first-layer weights for the other pixels never received a gradient (their input was
    always 0), so Adam left them at their random initial values: the page keeps only the inked pixels'
    weights and drops the rest of a drawing, exactly as vae_lib's reference (:func:`draw_terms`) does.
    """
    x_train = check_tensor("x_train", x_train)
    return (x_train > 0).any(0).nonzero().reshape(-1).cpu()


def _inked_encoder(model: VAE, inked: Tensor) -> torch.nn.Sequential:
    first = cast(torch.nn.Linear, model.encoder_body[0])
    cut = torch.nn.Linear(len(inked), first.out_features).to(first.weight.device)
    with torch.no_grad():
        cut.weight.copy_(first.weight[:, inked.to(first.weight.device)])
        cut.bias.copy_(first.bias)
    return torch.nn.Sequential(cut, torch.nn.ReLU(), model.encoder_head)


def draw_explorer(name: str, model: VAE, x_train: Tensor, x_heldout: Tensor, y_heldout: Tensor, *,
                  kl_equation: str, n_digits: int = 20, samples: int = 16, seed: int = 0,
                  max_points: int = 300) -> LiveExplorer:
    """The drawing explorer for ``model``: its encoder and decoder exported (int8 per row), the first
    ``n_digits`` held-out digits to load, the principal plane of the training means, ``samples`` seeded
    draws of epsilon (:func:`vae_lib.book.noise.seeded_normal`) shared by the page and :func:`draw_terms`.
    ``kl_equation`` is the closed-form KL's number in the book (e.g. ``"5.11"``), shown beside its value.
    """
    check_instance("model", model, VAE, "a vae_lib.VAE")
    d = model.config.input_dim
    if d != SIDE * SIDE:
        raise ValueError(f"model must take {SIDE} x {SIDE} images, got input_dim={d}")
    for key, x in (("x_train", x_train), ("x_heldout", x_heldout)):
        check_tensor(key, x)
        if x.dim() != 2 or x.shape[1] != d or x.shape[0] < 3:
            raise ValueError(f"{key} must have shape (N >= 3, {d}), got {tuple(x.shape)}")
    check_instance("y_heldout", y_heldout, Tensor, "a torch.Tensor")
    if y_heldout.shape != x_heldout.shape[:1]:
        raise ValueError(f"y_heldout must have shape ({x_heldout.shape[0]},), got {tuple(y_heldout.shape)}")
    check_int("n_digits", n_digits, low=1, high=x_heldout.shape[0])
    check_int("samples", samples, low=2)  # a spread needs two draws
    check_positive_int("max_points", max_points)
    check_text("kl_equation", kl_equation)  # the KL's equation number as text, e.g. '5.11'
    inked = inked_pixels(x_train)
    with torch.no_grad():
        plane = principal_plane(model.encode(x_train)[0].double())
        held = plane.project(model.encode(x_heldout)[0].double()).cpu()
    keep = torch.linspace(0, held.shape[0] - 1, min(max_points, held.shape[0])).long()
    labels = y_heldout.cpu()
    grey = torch.round(255 * x_heldout[:n_digits].cpu().double())
    if (grey / 255 - x_heldout[:n_digits].cpu().double()).abs().max() > 1e-6:
        raise ValueError("x_heldout must hold 8-bit grey levels (k / 255), as the embedded digits do")
    learned = {
        "encoder": live.export_mlp(_inked_encoder(model, inked), output="identity", bits=ENCODER_BITS),
        "decoder": live.export_mlp(model.decoder, output="identity", bits=DECODER_BITS),  # logits: for log p(x|z)
        "inked": inked.tolist(),
        "mean": [round(v, 6) for v in plane.mean.cpu().tolist()],
        # rows: the plane's axes divided by their scales, so (z - mean) @ proj.T is in standard deviations
        "proj": [[round(v, 6) for v in (plane.axes[i] / plane.scales[i]).cpu().tolist()] for i in (0, 1)],
        "cloud": [round(v, 3) for v in held[keep].reshape(-1).tolist()],
        "centroids": [[int(k), *[round(c, 3) for c in held[labels == k].mean(0).tolist()]] for k in labels.unique()],
        "digits": base64.b64encode(zlib.compress(grey.numpy().astype(np.uint8).tobytes(), 9)).decode("ascii"),
    }
    data = {"side": SIDE, "centre": CENTRE, "brush": BRUSH, "step": STEP, "samples": samples, "seed": seed,
            "latent_dim": model.config.latent_dim, "labels": [int(v) for v in labels[:n_digits]],
            "kl_equation": kl_equation, "limit": 3.5}
    sliders = [Slider("digit", "held-out digit", 0, n_digits - 1, 0, ticks=(0, n_digits - 1),
                      stops=tuple(float(i) for i in range(n_digits)), digits=0)]
    return LiveExplorer(name, "draw-digit", sliders, data, learned=learned,
                        description="Left: a 28 by 28 canvas to draw a digit on, or a held-out digit; the page "
                                    "centres the ink and encodes it. Middle: the encoder's Gaussian q(z|x), its "
                                    "mean and one- and two-standard-deviation ellipses, on the principal plane of "
                                    "the training codes. Right: the decoded mean and decoded samples z = mu + "
                                    "sigma epsilon. Below: the ELBO's terms for the image.")


def _digit(learned: dict, i: int) -> Tensor:
    grey = np.frombuffer(zlib.decompress(base64.b64decode(learned["digits"])), np.uint8).reshape(-1, SIDE * SIDE)
    return torch.from_numpy(grey[i].astype(np.float64) / 255)


def draw_terms(data: dict, learned: dict, x: Tensor) -> dict:
    """vae_lib's numbers for the page's image x (D,), centred, from the exported weights, in float64.

    The encoder gives (mu, logvar); z_i = mu + sigma * eps_i for the page's ``samples`` seeded eps;
    ``rec`` is the mean of log p(x|z_i) (Bernoulli, as the model was trained), ``kl`` the closed form
    (source Eq. (6)), ``elbo = rec - kl``, and ``log_px`` the importance-sampled log mean of
    p(x|z_i) p(z_i) / q(z_i|x) over the same draws (Burda et al.'s L_k with k = ``samples``).
    """
    x = check_tensor("x", x).double().reshape(1, -1)
    out = live.exported_forward(learned["encoder"], x[:, learned["inked"]])[0]
    j = data["latent_dim"]
    mu, logvar = out[:j], out[j:]
    eps = noise.seeded_normal(data["samples"], j, data["seed"]).double()
    z = mu + (0.5 * logvar).exp() * eps  # eq. reparameterisation
    logits = live.exported_forward(learned["decoder"], z)
    log_px_z = log_likelihood(x.expand(len(z), -1), logits, "bernoulli")
    kl = kl_units(mu, logvar).sum()  # eq. kl-closed-form
    log_q = normal_log_prob(z, mu, logvar).sum(1)
    log_p = normal_log_prob(z, 0.0, 0.0).sum(1)
    mean = torch.sigmoid(live.exported_forward(learned["decoder"], mu[None]))[0]
    xy = (mu - torch.tensor(learned["mean"], dtype=torch.float64)) @ torch.tensor(learned["proj"], dtype=torch.float64).T
    return {"mu": mu.tolist(), "logvar": logvar.tolist(), "rec": log_px_z.mean().item(), "kl": kl.item(),
            "elbo": (log_px_z.mean() - kl).item(), "log_px": log_mean_exp(log_px_z + log_p - log_q).item(),
            "mean_image": mean.tolist(), "a": xy[0].item(), "b": xy[1].item()}


def draw_state(data: dict, learned: dict | None, values: dict) -> dict:
    """The registry's reference: the page's numbers with held-out digit ``values["digit"]`` loaded."""
    if learned is None:
        raise ValueError("learned must hold the exported encoder, decoder and digits")
    i = int(values["digit"])
    return draw_terms(data, learned, centre(_digit(learned, i)))


def exported_code_error(explorer: LiveExplorer, model: VAE, x: Tensor) -> tuple[float, float]:
    """The largest |mu_page - mu| and |logvar_page - logvar| over images x (N, D): the page's encoder against
    the trained one, both reading x with the pixels no training image inks set to 0 (:func:`inked_pixels`)."""
    check_instance("explorer", explorer, LiveExplorer, "a LiveExplorer (draw_explorer)")
    check_choice("explorer.kind", explorer.kind, ("draw-digit",))
    x = check_tensor("x", x)
    inked = torch.tensor((explorer.learned or {})["inked"])
    masked = torch.zeros_like(x)
    masked[:, inked] = x[:, inked]
    with torch.no_grad():
        mu, logvar = model.encode(masked)
    page = live.exported_forward((explorer.learned or {})["encoder"], x.double().cpu()[:, inked])
    j = model.config.latent_dim
    return ((page[:, :j] - mu.double().cpu()).abs().max().item(), (page[:, j:] - logvar.double().cpu()).abs().max().item())


def exported_pixel_error(explorer: LiveExplorer, model: VAE, z: Tensor) -> tuple[float, float]:
    """The largest and the mean |pixel mean in the page - pixel mean of ``model``| over codes z (N, J)."""
    check_instance("explorer", explorer, LiveExplorer, "a LiveExplorer (draw_explorer)")
    check_choice("explorer.kind", explorer.kind, ("draw-digit",))
    z = check_tensor("z", z)
    with torch.no_grad():
        want = torch.sigmoid(model.decode(z)).double().cpu()
    error = (torch.sigmoid(live.exported_forward((explorer.learned or {})["decoder"], z.double().cpu())) - want).abs()
    return error.max().item(), error.mean().item()


__all__ = ["BRUSH", "DECODER_BITS", "ENCODER_BITS", "CENTRE", "MAX_CODE_ERROR", "SIDE", "STEP", "centre", "draw_explorer", "draw_state",
           "draw_terms", "exported_code_error", "exported_pixel_error", "inked_pixels", "stroke_ink"]
