"""The one registry of explorer kinds.

Each kind ties three things together under one key: the chapter's builder, which makes the
:class:`~vae_lib.book.live.LiveExplorer`; the JavaScript that draws it (``KINDS[key]`` in
``explorers.js``, the same key); and vae_lib's reference for what the page computes at one setting
of the sliders, which the browser test (tests/test_browser.py) compares with the page's numbers.
Builders and references are named as ``"module:function"`` and imported only when used, so
importing the registry imports no chapter.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    chapters: tuple[str, ...]  # where it is drawn
    builder: str  # "vae_lib.chapters.module:function" -> LiveExplorer
    reference: str  # "module:function" (spec's data, learned, slider values) -> dict of the page's numbers


KINDS: dict[str, Kind] = {
    "kl-gaussians": Kind(("03_kl_divergence",), "vae_lib.chapters.closed_form_kl:kl_explorer",
                         "vae_lib.chapters.closed_form_kl:kl_explorer_state"),
    "reparameterised-cloud": Kind(("02_vae",), "vae_lib.chapters.encoder_gaussian:sample_cloud_explorer",
                                  "vae_lib.chapters.encoder_gaussian:sample_cloud_state"),
    "evidence-decomposition": Kind(("04_bayes_rewrite",), "vae_lib.chapters.bayes_rewrite:evidence_explorer",
                                   "vae_lib.chapters.bayes_rewrite:evidence_state"),
    "decoder-variance": Kind(("06_final_loss",), "vae_lib.chapters.diagnostics:spectrum_explorer",
                             "vae_lib.chapters.diagnostics:spectrum_state"),
    "latent-plane": Kind(("01_autoencoder", "02_vae"), "vae_lib.chapters.code_plane:plane_explorer",
                         "vae_lib.chapters.code_plane:plane_state"),
    "draw-digit": Kind(("07_elbo_gap",), "vae_lib.chapters.draw_digit:draw_explorer",
                       "vae_lib.chapters.draw_digit:draw_state"),
    "beta-sweep": Kind(("08_choosing_the_weight",), "vae_lib.chapters.beta_sweep:beta_explorer",
                       "vae_lib.chapters.beta_sweep:beta_state"),
}


def resolve(path: str) -> Callable:
    """The function that ``"module:function"`` names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def reference(kind: str) -> Callable[[dict, dict | None, dict], dict]:
    """vae_lib's numbers for the page's inputs at one setting of the sliders, for explorers of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    return resolve(KINDS[kind].reference)


__all__ = ["KINDS", "Kind", "reference", "resolve"]
