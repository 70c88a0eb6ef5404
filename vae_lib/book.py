"""Helpers that every chapter calls: set-up and gluing numbers into the prose."""
from __future__ import annotations

import matplotlib
import torch

from .training import choose_device, seed_everything, set_threads

REPOSITORY_URL = "https://github.com/variational-book/vi-book"  # must match _config.yml (a test checks)


def setup(seed: int = 0, device: str = "auto") -> torch.device:
    """Seed everything, apply the thread policy, pick the device, and set figure defaults."""
    seed_everything(seed)
    set_threads()
    matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (6, 3.5),
                                "axes.grid": False, "font.size": 10})
    return choose_device(device)


def glue(name: str, value, digits: int | None = None):
    """Make ``value`` available to the prose as ``{glue:text}`name``` (via myst-nb).

    Floats are rounded to ``digits`` decimals first, so the stored text is the
    number the prose shows. Outside a book build without myst-nb (e.g. Colab)
    this only returns the value.
    """
    if digits is not None:
        value = round(float(value), digits)
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=False)
    return value
