"""The committed results of chapter 8 and its explorer over beta.

``python scripts/rate_distortion.py`` (the models of :mod:`vae_lib.chapters.rate_distortion`) writes
``vae_lib/_data/rate_distortion.json`` and the explorer's images ``rate_distortion_images.npz``;
``--checks`` writes ``rate_distortion_checks.json``. :func:`load_committed`, :func:`load_checks` and
:func:`beta_explorer_data` read them. Introduced in chapter 8.
"""
from __future__ import annotations

import base64
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import check_instance
from ..book import power_of_ten
from ..book.live import LiveExplorer, Slider, decade_ticks

DATA = Path(__file__).resolve().parents[1] / "_data"
COMMITTED = DATA / "rate_distortion.json"
CHECKS = DATA / "rate_distortion_checks.json"  # scripts/rate_distortion.py --checks: a second, separate run
IMAGES = DATA / "rate_distortion_images.npz"
N_EXPLORER = 8  # held-out digits and prior samples per beta in the explorer


# --- The committed results ------------------------------------------------------------------------


def load_checks(path: Path = CHECKS) -> dict:
    """What ``scripts/rate_distortion.py --checks`` wrote: the frontier and collapse checks of chapter 8."""
    try:
        record = json.loads(Path(path).read_text())
        for key in ("frontier", "collapse"):
            if not isinstance(record[key], dict):
                raise TypeError(f"its {key!r} is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a checks file of scripts/rate_distortion.py --checks ({e}); run it") from e
    return record


def load_committed(path: Path = COMMITTED) -> dict:
    """What ``scripts/rate_distortion.py`` wrote (see that script for the command)."""
    try:
        record = json.loads(Path(path).read_text())
        for key in ("sweep", "remedies", "sigma_vae"):
            if not isinstance(record[key], dict):
                raise TypeError(f"its {key!r} is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a results file of scripts/rate_distortion.py ({e}); run that script") from e
    return record


@dataclass(frozen=True)
class ExplorerData:
    """The explorer over beta: for each beta its point on the plane and its images (uint8, 28 x 28)."""

    betas: np.ndarray  # (n_beta,)
    rate: np.ndarray  # (n_beta,) nats per image
    distortion: np.ndarray  # (n_beta,) nats per image, Gaussian decoder of variance S0^2
    originals: np.ndarray  # (8, 28, 28) the held-out digits
    reconstructions: np.ndarray  # (n_beta, 8, 28, 28)
    samples: np.ndarray  # (n_beta, 8, 28, 28) the same 8 prior codes decoded by each model


def beta_explorer_data(path: Path = COMMITTED, images: Path = IMAGES) -> ExplorerData:
    """The committed beta sweep (seed 0) with its images, in increasing beta."""
    record = load_committed(path)
    try:
        with np.load(images) as f:
            arrays = {k: f[k] for k in ("betas", "originals", "reconstructions", "samples")}
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{images} is not an image file of scripts/rate_distortion.py ({e}); run that script") from e
    sweep = record["sweep"]["0"]
    betas = arrays["betas"]
    if [float(b) for b in betas] != [float(k) for k in sweep]:
        raise ValueError(f"{images} and {path} hold different betas: run scripts/rate_distortion.py again")
    n = len(betas)
    if arrays["reconstructions"].shape != (n, N_EXPLORER, 28, 28) or arrays["samples"].shape != (n, N_EXPLORER, 28, 28):
        raise ValueError(f"{images} has arrays of the wrong shape: run scripts/rate_distortion.py again")
    order = np.argsort(betas)
    return ExplorerData(betas[order], np.array([sweep[k]["rate"] for k in sweep])[order],
                        np.array([sweep[k]["distortion"] for k in sweep])[order], arrays["originals"],
                        arrays["reconstructions"][order], arrays["samples"][order])


def _tick_label(t: float) -> str:
    """``0.1``, ``1``, ``100``, but ``10³`` from a thousand on: short enough not to run into the last tick on a phone."""
    e = round(math.log10(t))
    if t >= 1000 and 10.0**e == t:
        return power_of_ten(e)
    return f"{t:g}"


def beta_explorer(data: ExplorerData, marks: dict[float, str]) -> LiveExplorer:
    """Chapter 8's explorer over beta: the sweep on the rate-distortion plane, with each model's images.

    The slider is log-spaced over the sweep's betas and snaps to the model of nearest log beta; the
    page marks its point, draws the iso-ELBO line through it (eq. iso-elbo-line) and shows its
    reconstructions of the held-out digits and its decoded prior samples. ``marks`` labels points
    of the plane by their beta (e.g. ``{1.0: "ELBO"}``). The images travel deflated (uint8).
    """
    check_instance("data", data, ExplorerData, "the ExplorerData of beta_explorer_data()")
    check_instance("marks", marks, dict, "a dict of beta -> label")
    betas = [float(b) for b in data.betas]
    if any(float(b) not in betas for b in marks):
        raise ValueError(f"marks must map betas of the sweep {betas} to labels, got {marks!r}")
    n, k, side = len(betas), data.originals.shape[0], data.originals.shape[-1]
    pieces = [data.originals.reshape(-1)]
    for i in range(n):
        pieces += [data.reconstructions[i].reshape(-1), data.samples[i].reshape(-1)]
    images = np.concatenate(pieces).astype(np.uint8)
    lo, hi = min(betas), max(betas)
    ticks = sorted(set(decade_ticks(lo, hi)) | {lo, hi})
    slider = Slider("beta", "β", lo, hi, 1.0 if 1.0 in betas else lo, ticks=tuple(ticks), log=True,
                    tick_labels=tuple(_tick_label(t) for t in ticks), stops=tuple(betas))
    return LiveExplorer("beta-sweep", "beta-sweep", [slider], {
        "beta": betas, "rate": [round(float(r), 4) for r in data.rate],
        "distortion": [round(float(d), 4) for d in data.distortion], "side": int(side), "n_images": int(k),
        "images": base64.b64encode(zlib.compress(images.tobytes(), 9)).decode("ascii"),
        "marks": [{"index": betas.index(float(b)), "label": label} for b, label in marks.items()]},
        description="Left: every model of the beta sweep on the rate-distortion plane, the current one ringed, "
                    "with the line of equal ELBO through it. Right: held-out digits, that model's reconstructions "
                    "of them, and its decoded samples from the prior.")


def beta_state(data: dict, learned: dict | None, values: dict) -> dict:
    """What :func:`beta_explorer`'s page shows at ``values["beta"]``: the trained model of nearest log beta."""
    i = min(range(len(data["beta"])), key=lambda k: abs(math.log(data["beta"][k]) - math.log(values["beta"])))
    return {"index": i, "rate": data["rate"][i], "distortion": data["distortion"][i]}


__all__ = ["beta_explorer", "beta_explorer_data", "beta_state", "CHECKS", "COMMITTED", "ExplorerData", "IMAGES", "load_checks", "load_committed", "N_EXPLORER"]
