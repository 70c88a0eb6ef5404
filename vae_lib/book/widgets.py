"""Slider explorers that work live in Jupyter/Colab and without a kernel on the website.

An :class:`Explorer` wraps a drawing function ``draw(**params) -> Figure`` and a
grid of values for each parameter. Displayed in a notebook it offers two
representations in one output:

* ``application/vnd.jupyter.widget-view+json``: live ipywidgets sliders that
  call ``draw`` (Jupyter and Colab pick this one);
* ``text/html``: every grid point pre-rendered as a PNG frame behind plain
  HTML range inputs and a few lines of JavaScript, so that on the static site
  moving a slider changes the figure with no kernel (the book's configuration
  drops the widget view there, so no dead slider is ever shown).
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import numbers
import re
from typing import Callable, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

from ._blit import DISPLAY_DPI, DPI

DrawFn = Callable[..., Figure]
PALETTE = 256  # colours per frame: line art and digits need few, and a palette PNG is ~2.5x smaller than RGBA


def _png(fig: Figure, dpi: int) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    # every frame ships in the page, so it is stored with a palette (no dithering: flat colours stay flat)
    image = Image.open(buf).convert("RGB").quantize(PALETTE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    image.save(buf, format="png", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _png_width(frame: str) -> int:
    """The pixel width of a base64 PNG (the IHDR chunk's first field)."""
    return int.from_bytes(base64.b64decode(frame[:32])[16:20], "big")


def _check_params(params: object) -> None:
    """name -> at least two distinct finite numbers; checked up front, before any frame is drawn."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict mapping each argument of draw to its values, "
                        f"got {type(params).__name__}")
    if not params:
        raise ValueError("params must name at least one slider")
    for key, grid in params.items():
        if not isinstance(key, str):
            raise TypeError(f"params keys must be str (argument names of draw), got {key!r}")
        if not key.isidentifier():
            raise ValueError(f"params keys must be argument names of draw (identifiers), got {key!r}")
        if isinstance(grid, (str, bytes, dict)) or not hasattr(grid, "__iter__"):
            raise TypeError(f"params[{key!r}] must be a list of numbers, got {type(grid).__name__}")
        values = list(grid)
        if len(values) < 2:
            raise ValueError(f"params[{key!r}] must hold at least two values, got {values}")
        if any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in values):
            raise TypeError(f"params[{key!r}] must hold real numbers, got {values}")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"params[{key!r}] must hold finite numbers (a NaN or inf frame draws nothing), "
                             f"got {values}")
        if len(set(float(v) for v in values)) != len(values):
            raise ValueError(f"params[{key!r}] repeats a value, so two slider positions would be one: {values}")


def _check_labels(labels: object, params: dict) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise TypeError(f"labels must be a dict of slider name -> str, or None, got {type(labels).__name__}")
    for key, label in labels.items():
        if key not in params:
            raise ValueError(f"labels names {key!r}, which is not a slider; the sliders are {list(params)}")
        if not isinstance(label, str):
            raise TypeError(f"labels[{key!r}] must be a str, got {type(label).__name__}")


class Explorer:
    """Sliders over a figure. ``params`` maps each argument of ``draw`` to its grid of values.

    ``name`` (lowercase-hyphen) identifies the explorer on its page; ``labels``
    gives each slider a label in the book's notation, written in Unicode (e.g. ``"μ₁"``,
    ``"v₁ = log σ₁²"``): it is HTML text on the site, where mathtext would not render.
    Frames are rendered at ``dpi`` and displayed at :data:`DISPLAY_DPI` pixels per inch,
    so a figure of w inches takes 72 w pixels on the page at any ``dpi``.
    """

    def __init__(self, name: str, draw: DrawFn, params: dict[str, Sequence[float]],
                 labels: dict[str, str] | None = None, dpi: int = DPI) -> None:
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
            raise ValueError(f"name must be lowercase-hyphen (e.g. 'kl-gaussians'), got {name!r}")
        if not callable(draw):
            raise TypeError(f"draw must be a callable draw(**params) -> Figure, got {type(draw).__name__}")
        _check_params(params)
        _check_labels(labels, params)
        if not isinstance(dpi, int) or isinstance(dpi, bool) or dpi < 1:
            raise ValueError(f"dpi must be a positive integer, got {dpi!r}")
        self.name, self.draw, self.dpi = name, draw, dpi
        self.params = {k: [float(v) for v in g] for k, g in params.items()}
        self.labels = {k: (labels or {}).get(k, k) for k in params}
        self.initial = {k: g[len(g) // 2] for k, g in self.params.items()}

    # -- live version ---------------------------------------------------------------
    def widget(self):
        """The live ipywidgets version (needs a kernel): sliders that re-draw an image.

        The figure is shown as an ``Image`` widget rather than through an
        ``Output`` widget, so nothing leaks into the cell's own outputs when a
        notebook is executed without a front end (nbclient, nbval).
        """
        import ipywidgets as w

        sliders = {
            k: w.SelectionSlider(options=[(f"{v:g}", v) for v in g], value=self.initial[k],
                                 description=self.labels[k], continuous_update=False)
            for k, g in self.params.items()
        }
        first = self._frame(self.initial)
        image = w.Image(value=base64.b64decode(first), format="png", width=self._display_width(first))

        def redraw(change=None):
            image.value = base64.b64decode(self._frame({k: s.value for k, s in sliders.items()}))

        for s in sliders.values():
            s.observe(redraw, names="value")
        return w.VBox([*sliders.values(), image])

    # -- static version -------------------------------------------------------------
    def frames(self) -> list[str]:
        """Every grid point rendered as base64 PNG, in row-major order of ``params``."""
        keys = list(self.params)
        return [self._frame(dict(zip(keys, combo))) for combo in itertools.product(*self.params.values())]

    def _frame(self, values: dict[str, float]) -> str:
        return _png(self.draw(**values), self.dpi)

    def _display_width(self, frame: str) -> int:
        return round(_png_width(frame) * DISPLAY_DPI / self.dpi)

    def static_html(self) -> str:
        keys = list(self.params)
        frames = self.frames()
        sizes = [len(self.params[k]) for k in keys]
        uid = f"explorer-{self.name}"
        inputs = "".join(
            f'<label style="display:block;font-family:sans-serif;font-size:0.9em">'
            f'{html.escape(self.labels[k])} = <span class="value">{self.initial[k]:g}</span>'
            f'<input type="range" data-key="{html.escape(k)}" min="0" max="{n - 1}" step="1" '
            f'value="{self.params[k].index(self.initial[k])}" style="width:60%;vertical-align:middle;margin-left:1em">'
            f"</label>"
            for k, n in zip(keys, sizes)
        )
        start = self._index([self.params[k].index(self.initial[k]) for k in keys], sizes)
        data = json.dumps({"sizes": sizes, "values": [self.params[k] for k in keys], "frames": frames})
        return (
            f'<div class="vae-explorer" id="{uid}" data-frame="{start}">{inputs}'
            f'<img alt="{html.escape(self.name)} figure" width="{self._display_width(frames[start])}" '
            f'style="max-width:100%;height:auto" '
            f'src="data:image/png;base64,{frames[start]}">'
            f'<script type="application/json">{data}</script>'
            f"<script>{_JS % json.dumps(uid)}</script></div>"
        )

    @staticmethod
    def _index(positions: list[int], sizes: list[int]) -> int:
        i = 0
        for p, n in zip(positions, sizes):
            i = i * n + p
        return i

    # -- display ----------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": f"Explorer({self.name!r}: sliders {', '.join(self.params)})",
                  "text/html": self.static_html()}
        try:
            box = self.widget()
            # Written out rather than taken from box._repr_mimebundle_(), which ipywidgets 7
            # (Colab's) lacks; 7 and 8 both show a widget with exactly this view.
            bundle["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2, "version_minor": 0, "model_id": box.model_id}
        except Exception:  # no kernel/comm (e.g. plain Python): the static version still shows
            pass
        return bundle


_JS = """(function(){
  var root = document.getElementById(%s);
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var spec = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var inputs = root.querySelectorAll('input[type=range]');
  var img = root.querySelector('img');
  function update() {
    var i = 0;
    inputs.forEach(function(inp, j) {
      var p = parseInt(inp.value, 10);
      i = i * spec.sizes[j] + p;
      inp.parentNode.querySelector('.value').textContent = String(spec.values[j][p]);
    });
    root.dataset.frame = String(i);
    img.src = 'data:image/png;base64,' + spec.frames[i];
  }
  inputs.forEach(function(inp){ inp.addEventListener('input', update); });
})();"""
