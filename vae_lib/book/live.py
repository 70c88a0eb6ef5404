"""Explorers that run in the page: the chapters' closed forms and trained decoders in JavaScript.

A :class:`LiveExplorer` is plain HTML: continuous sliders, an SVG figure, the
explorer's data as JSON, and ``explorers.js`` (next to this file), which computes
and draws everything in the browser. Nothing calls back into Python, so the same
output works live in Jupyter, in Colab and on the static site, with no kernel and
nothing fetched from elsewhere.

What the page computes is what the chapter computes: the formulas in
``explorers.js`` are the closed forms of :mod:`vae_lib.objectives` and the
chapters (the browser test compares them to 1e-6), the sample cloud's noise comes
from :func:`vae_lib.book.noise.seeded_normal`, mirrored bit for bit in JavaScript, and a trained
decoder travels as :func:`export_mlp` writes it (per-row int8 weights), with
:func:`exported_forward` its reference in Python.
"""
from __future__ import annotations

import base64
import html
import json
import math
import re
import sys
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import (
    check_below,
    check_bool,
    check_choice,
    check_finite_number,
    check_instance,
    check_int,
    check_json,
    check_nonnegative_int,
    check_positive_number,
    check_text,
)
from . import kinds

SCRIPT = Path(__file__).with_name("explorers.js")
KINDS = tuple(kinds.KINDS)  # the registry (vae_lib.book.kinds) ties each to its builder, its JS and its reference
ACTIVATIONS = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid"}


@dataclass(frozen=True)
class Slider:
    """A continuous slider over ``[lo, hi]`` (log-spaced if ``log``) for the argument ``key``.

    ``label`` is the quantity in the book's notation, in Unicode (``"μ₁"``, ``"v = log σ²"``);
    the page shows it with the current value, which is also the slider's ``aria-valuetext``.
    ``ticks`` are marked and labelled under the track (``tick_labels`` overrides their text);
    ``digits`` fixes the decimals shown (default: 2, or three significant digits on a log slider).
    ``stops``, if given, are the only values it takes (the models a sweep trained): the page snaps to
    the nearest, in the slider's own scale, so its label names the value drawn.
    """

    key: str
    label: str
    lo: float
    hi: float
    value: float
    ticks: tuple[float, ...] = ()
    log: bool = False
    digits: int | None = None
    tick_labels: tuple[str, ...] | None = None
    stops: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_instance("key", self.key, str, "a str")
        if not self.key.isidentifier():
            raise ValueError(f"key must be an identifier (the explorer's argument name), got {self.key!r}")
        check_text("label", self.label)
        lo, hi, value = (check_finite_number(n, v) for n, v in (("lo", self.lo), ("hi", self.hi), ("value", self.value)))
        check_bool("log", self.log)
        for name in ("ticks", "stops"):
            check_instance(name, getattr(self, name), (tuple, list), "a tuple of numbers")
        check_instance("tick_labels", self.tick_labels, (tuple, list), "a tuple of str", optional=True)
        if not lo < hi:
            raise ValueError(f"slider {self.key!r}: lo must be below hi, got lo={lo:g}, hi={hi:g}")
        if not lo <= value <= hi:
            raise ValueError(f"slider {self.key!r}: value must lie in [lo, hi] = [{lo:g}, {hi:g}], got {value:g}")
        if self.log and lo <= 0:
            raise ValueError(f"slider {self.key!r}: a log slider needs lo > 0, got {lo:g}")
        ticks = tuple(check_finite_number("ticks", t) for t in self.ticks)
        outside = [t for t in ticks if not lo <= t <= hi]
        if outside:
            raise ValueError(f"slider {self.key!r}: ticks must lie in [{lo:g}, {hi:g}], got {outside}")
        if self.tick_labels is not None and len(self.tick_labels) != len(ticks):
            raise ValueError(f"slider {self.key!r}: tick_labels must name every tick ({len(ticks)}), "
                             f"got {len(self.tick_labels)}")
        if self.digits is not None:
            check_nonnegative_int("digits", self.digits)
        stops = tuple(check_finite_number("stops", t) for t in self.stops)
        outside = [t for t in stops if not lo <= t <= hi]
        if outside:
            raise ValueError(f"slider {self.key!r}: stops must lie in [{lo:g}, {hi:g}], got {outside}")
        if stops and value not in stops:
            raise ValueError(f"slider {self.key!r}: value must be one of the stops {list(stops)}, got {value:g}")
        object.__setattr__(self, "ticks", ticks)
        object.__setattr__(self, "stops", stops)

    def spec(self) -> dict:
        out = {"key": self.key, "label": self.label, "min": float(self.lo), "max": float(self.hi),
               "value": float(self.value), "ticks": list(self.ticks), "log": self.log}
        if self.digits is not None:
            out["digits"] = self.digits
        if self.tick_labels is not None:
            out["tick_labels"] = list(self.tick_labels)
        if self.stops:
            out["stops"] = list(self.stops)
        return out


def decade_ticks(lo: float, hi: float) -> list[float]:
    """The powers of ten in [lo, hi] (0 < lo < hi): the ticks of a log slider."""
    lo, hi = check_positive_number("lo", lo), check_positive_number("hi", hi)
    check_below(("lo", "hi"), lo, hi)
    return [10.0**e for e in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)]


def _json(value) -> str:
    # inside <script>: no "</" can end the element early
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


@lru_cache(maxsize=1)
def script() -> str:
    """The JavaScript of every explorer (``explorers.js``) as each output inlines it: indentation, blank lines
    and whole-line comments left out (every output carries its own copy, since Colab isolates outputs)."""
    lines, comment = [], False
    for line in SCRIPT.read_text(encoding="utf-8").splitlines():
        code = line.strip()
        if comment or code.startswith("/*"):
            comment = "*/" not in code
            continue
        if code and not code.startswith("//"):
            lines.append(code)
    return "\n".join(lines) + "\n"


_SHIPPED = False  # True once an output of this process carried the whole script
# a later output: the first output's script mounts every explorer already in the page, this mounts one added after it
_MOUNT = "if (window.VAEExplorers) window.VAEExplorers.mountAll();\n"

_STYLE = """<style>
.vae-explorer{margin:0.5em 0 1em;font-family:sans-serif;font-size:0.9em;max-width:640px}
.vae-explorer .vae-slider{display:grid;grid-template-columns:minmax(5em,13em) minmax(8em,1fr) 4.5em;gap:0 0.8em;
 align-items:start;margin:0.2em 0}
@media (max-width:520px){.vae-explorer .vae-slider{grid-template-columns:1fr 4em}
 .vae-explorer .vae-slider label{grid-column:1/-1}}
.vae-explorer .vae-slider label{padding-top:0.15em}
.vae-explorer .vae-slider-track{position:relative;padding-bottom:1.3em}
.vae-explorer .vae-slider input{width:100%;margin:0.2em 0;min-height:24px}
.vae-explorer .vae-slider-ticks span{position:absolute;top:1.8em;transform:translateX(-50%);font-size:0.8em;color:#444;
 white-space:nowrap}
.vae-explorer output{font-variant-numeric:tabular-nums;padding-top:0.15em}
.vae-explorer .vae-explorer-button{min-height:32px;padding:0.2em 0.8em;margin:0.3em 0;font:inherit;cursor:pointer}
.vae-explorer .vae-explorer-status{font-size:0.9em;margin:0.3em 0}
</style>"""


class LiveExplorer:
    """One explorer: ``kind`` (one of :data:`KINDS`, drawn by ``explorers.js``), its sliders and data.

    ``data`` are exact inputs (closed forms, counts, fixed data), compared strictly with the
    stored output like any text; ``learned`` are the trained inputs (a decoder's weights, codes),
    which differ from one CPU to another and are left out of that comparison (tests/nbval_sanitize.cfg).
    ``description`` is the figure's accessible name: what it shows, for a reader who cannot see it.
    """

    def __init__(self, name: str, kind: str, sliders: list[Slider], data: dict, *, description: str,
                 learned: dict | None = None) -> None:
        check_instance("name", name, str, "a str")
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
            raise ValueError(f"name must be lowercase-hyphen (e.g. 'kl-gaussians'), got {name!r}")
        check_choice("kind", kind, KINDS)
        check_instance("sliders", sliders, (list, tuple), "a list of Slider")
        for i, s in enumerate(sliders):
            check_instance(f"sliders[{i}]", s, Slider, "a Slider")
        if not sliders:
            raise ValueError("sliders must hold at least one Slider")
        keys = [s.key for s in sliders]
        if len(set(keys)) != len(keys):
            raise ValueError(f"sliders repeat a key: {keys}")
        check_instance("description", description, str, "a str")
        if not description.strip():
            raise ValueError("description must say what the figure shows (it is the figure's accessible name)")
        check_instance("data", data, dict, "a dict")
        check_instance("learned", learned, dict, "a dict", optional=True)
        # fail now, naming the entry, rather than in the page: NaN and inf are not JSON
        check_json("data", data)
        check_json("learned", learned)
        self.name, self.kind, self.sliders = name, kind, list(sliders)
        self.data, self.learned, self.description = data, learned, description

    def spec(self) -> dict:
        return {"kind": self.kind, "sliders": [s.spec() for s in self.sliders], "data": self.data,
                "description": self.description}

    def html(self, standalone: bool | None = None) -> str:
        """The output's HTML. ``standalone=True`` always carries the whole script, ``False`` never; by
        default only the first output of a process does (and every output in Colab): see :meth:`_script`."""
        learned = ("" if self.learned is None else
                   f'<script type="application/json" class="vae-explorer-learned">{_json(self.learned)}</script>')
        return (f'<div class="vae-explorer" id="explorer-{self.name}" data-kind="{self.kind}">{_STYLE}'
                f'<div class="vae-explorer-controls"></div><div class="vae-explorer-figure">'
                # shown until the script draws the figure: where a page does not run it (JupyterLab, for a
                # notebook not yet trusted), the reader learns what is there and how to start it
                f'<p class="vae-explorer-waiting">Explorer: {html.escape(self.description)} It is drawn by '
                f'JavaScript in the page, with no kernel. If this text stays, the page has not run its script: '
                f'in JupyterLab or Notebook 7, trust the notebook (command palette: Trust Notebook), or run the '
                f'chapter from the top (Run \u25b8 Run All Cells), since this cell needs the cells above it.</p></div>'
                f'<script type="application/json" class="vae-explorer-spec">{_json(self.spec())}</script>{learned}'
                f"<script>\n{self._script(standalone)}</script></div>")

    @staticmethod
    def _script(standalone: bool | None) -> str:
        """The whole script in the first output of a process, and in every output in Colab (its outputs are
        isolated frames); elsewhere a later output shares one page with the first (Jupyter, the site), and
        only asks the script the first defined to mount it."""
        global _SHIPPED
        if standalone is None:
            standalone = not _SHIPPED or "google.colab" in sys.modules
        _SHIPPED = _SHIPPED or standalone
        return script() if standalone else _MOUNT

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"LiveExplorer({self.name!r}, {self.kind!r}: sliders {', '.join(s.key for s in self.sliders)})"


# --- A trained decoder, exported for the page ----------------------------------------------------------


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _unb64(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def export_mlp(mlp: nn.Sequential, output: str = "sigmoid", bits: int | tuple[int, ...] = 8) -> dict:
    """An MLP of Linear layers and ReLUs, for ``explorers.js``: per-row int8 weights with float32 scales.

    Row r of a weight matrix is stored as ``round(W[r] / scale[r])`` with ``scale[r] = max|W[r]| / L``,
    ``L = 2^(bits-1) - 1`` (127 for 8 bits), so each weight is off by at most ``scale[r] / 2``; the int8
    matrix is then deflated (the page inflates it with DecompressionStream), which stores the 2L + 1 levels
    in about ``bits`` bits each: fewer bits, a smaller page and a coarser model. Biases stay float32.
    ``bits`` may also give one value per Linear layer: a small layer costs little at 8 bits, and its
    rounding errors reach the output least diluted. ``output`` is the activation applied to the last
    layer in the page (``"sigmoid"``: the decoder's logits become pixel means; ``"identity"``: the logits).
    """
    check_instance("mlp", mlp, nn.Sequential, "an nn.Sequential of Linear and ReLU layers")
    check_choice("output", output, ("sigmoid", "identity"))
    modules = list(mlp)
    n_linear = sum(isinstance(m, nn.Linear) for m in modules)
    per_layer = list(bits) if isinstance(bits, tuple) else [bits] * n_linear
    if len(per_layer) != n_linear or any(check_int("bits", b) < 2 or b > 8 for b in per_layer):
        raise ValueError(f"bits must be an int from 2 to 8, or a tuple of one per Linear layer ({n_linear}), got {bits}")
    layers: list[dict] = []
    for i, m in enumerate(modules):
        if isinstance(m, nn.Linear):
            follow = modules[i + 1] if i + 1 < len(modules) else None
            activation = ACTIVATIONS.get(type(follow), output if follow is None else None)
            if activation is None:
                raise ValueError(f"mlp layer {i + 1} is {type(follow).__name__}; only ReLU may follow a Linear")
            w = m.weight.detach().double().cpu().numpy()
            b = (m.bias.detach().double().cpu().numpy() if m.bias is not None else np.zeros(w.shape[0]))
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"mlp layer {i} has non-finite weights")
            top = 2 ** (per_layer[len(layers)] - 1) - 1
            scale = np.abs(w).max(1) / top
            scale[scale == 0] = 1.0  # an all-zero row: any scale stores it exactly
            q = np.clip(np.rint(w / scale[:, None]), -top, top).astype(np.int8)
            layers.append({"in": w.shape[1], "out": w.shape[0], "activation": activation,
                           "weight": base64.b64encode(zlib.compress(q.tobytes(), 9)).decode("ascii"),
                           "scale": _b64(scale.astype(np.float32)), "bias": _b64(b.astype(np.float32))})
        elif type(m) not in ACTIVATIONS:
            raise ValueError(f"mlp layer {i} is {type(m).__name__}; only Linear and ReLU are exported")
    if not layers:
        raise ValueError("mlp has no Linear layer")
    return {"layers": layers}


# What the page's decoder may differ from the trained one by, per pixel (a pixel mean lies in [0, 1]); the
# chapters check both on every run. Per-row int8 moves the worst pixel of the book's decoders by about 0.05.
MAX_PIXEL_ERROR = 0.1
MEAN_PIXEL_ERROR = 1 / 255  # on average below one grey level of an 8-bit image


def exported_forward(exported: dict, z: Tensor) -> Tensor:
    """The reference for the page: ``exported`` (from :func:`export_mlp`) applied to z (B, J), in float64.

    The weights are dequantised to float32, as the page holds them, and the sums run in float64, as there.
    """
    check_instance("exported", exported, dict, "a dict from export_mlp")
    if not exported.get("layers"):
        raise ValueError("exported must be a dict from export_mlp, with a non-empty 'layers'")
    check_instance("z", z, Tensor, "a torch.Tensor")
    if z.dim() != 2:
        raise ValueError(f"z must be a tensor of shape (B, J), got {tuple(z.shape)}")
    h = z.detach().double().cpu()
    for i, layer in enumerate(exported["layers"]):
        if h.shape[1] != layer["in"]:
            raise ValueError(f"layer {i} takes {layer['in']} inputs, got z with {h.shape[1]}")
        q = _int8_weights(layer).astype(np.float32)
        w = torch.from_numpy(q * _unb64(layer["scale"], np.float32)[:, None]).double()
        b = torch.from_numpy(_unb64(layer["bias"], np.float32).copy()).double()
        h = h @ w.T + b
        h = {"relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda t: t}[layer["activation"]](h)
    return h


def _int8_weights(layer: dict) -> np.ndarray:
    """One exported layer's int8 weights (out, in), inflated as the page inflates them."""
    try:
        q = np.frombuffer(zlib.decompress(base64.b64decode(layer["weight"])), np.int8)
        return q.reshape(layer["out"], layer["in"])
    except (zlib.error, ValueError, KeyError) as e:
        raise ValueError(f"exported layer weights are corrupt or not from export_mlp ({e})") from e


def exported_size(exported: dict) -> int:
    """Bytes the page holds once the weights are inflated: one per int8 weight, four per float32 scale and bias.

    It depends on the layer sizes only (the deflated form that travels is smaller, by an amount that depends
    on the trained weights)."""
    return sum(layer["in"] * layer["out"] + 8 * layer["out"] for layer in exported["layers"])


__all__ = ["KINDS", "MAX_PIXEL_ERROR", "MEAN_PIXEL_ERROR", "decade_ticks", "LiveExplorer", "Slider", "export_mlp", "exported_forward", "exported_size", "script"]
