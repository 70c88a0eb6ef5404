"""Helpers that every chapter calls: set-up, gluing numbers into the prose, and claims.

Two kinds of number reach the prose (see CONTRIBUTING.md, "Exact results and claims"):

* exact results (closed forms, float64 identities, counts of a fixed data set) go
  through :func:`glue`, and the tests compare their stored text strictly;
* learned or sampled numbers (anything that depends on training, or on Monte Carlo
  draws pushed through BLAS) go through :func:`claim`, which checks a stated range
  whenever the cell runs, and carries a tolerance with which the tests compare the
  number against its stored value. Qualitative statements that a run supports go
  through :func:`holds`.
"""
from __future__ import annotations

import base64
import copy
import io
import json
import math
import numbers
import os
import sys
from pathlib import Path
from typing import cast

import matplotlib
import torch

from .._checks import check_finite_number, check_instance, check_nonnegative_int, check_text
from ..runtime import choose_device, seed_everything, set_threads
from . import live as live  # the explorers: vae_lib.book.live.LiveExplorer, computed in the page
from . import noise as noise  # the seeded noise the page and the chapters share

REPOSITORY_URL = "https://github.com/variational-book/vi-book"  # must match _config.yml (a test checks)
GLUE_PREFIX = "application/papermill.record/"  # myst-nb's prefix for glued values that are not displayed


class ClaimError(AssertionError):
    """A claim of the prose does not hold for the run at hand."""


def _claims_raise() -> bool:
    """``VAE_BOOK_CLAIMS=report`` (set by scripts/portability.py to measure spreads) reports instead of raising."""
    mode = os.environ.get("VAE_BOOK_CLAIMS", "check")
    if mode not in ("check", "report"):
        raise ValueError(f"VAE_BOOK_CLAIMS must be 'check' or 'report', got {mode!r}")
    return mode == "check"


def _fail(message: str) -> None:
    if _claims_raise():
        raise ClaimError(message)
    print(f"CLAIM FAILS: {message}", file=sys.stderr)


def setup(seed: int = 0, device: str = "auto", chapter: str | None = None) -> torch.device:
    """Seed everything, apply the thread policy, pick the device, and set figure defaults.
    ``chapter`` names the chapter's file of claims (:func:`use_claims`)."""
    if chapter is not None:
        use_claims(chapter)
    seed_everything(seed)
    set_threads()
    # figure.dpi sets the size a figure takes on the page (80 pixels per inch, as ever); the pixels are
    # rendered at twice that (FIGURE_PIXEL_DENSITY), so figures stay sharp on HiDPI screens and in print
    matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80 * FIGURE_PIXEL_DENSITY,
                                "figure.figsize": (6, 3.5), "axes.grid": False, "font.size": 10})
    _inline_retina()
    return choose_device(device)


FIGURE_PIXEL_DENSITY = 2  # rendered pixels per displayed pixel of a static figure


FIGURE_COLOURS = 256  # a static figure is stored as a palette PNG: line art and digits need no more, at 1/2.5 the bytes


def _inline_retina() -> None:
    """In a notebook kernel, show figures as 'retina' PNGs: rendered at 2 x figure.dpi, displayed at 1 x
    (the output's width/height metadata, which Jupyter and myst-nb honour), so the page layout is unchanged.
    Each is then stored with a palette of :data:`FIGURE_COLOURS` colours (:func:`palette_png`)."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
        from matplotlib_inline.backend_inline import InlineBackend, set_matplotlib_formats
    except ImportError:  # plain Python: nothing is displayed inline
        return
    shell = get_ipython()
    if shell is None:
        return
    import matplotlib.pyplot  # noqa: F401  loading pyplot selects the inline formats: done first, so ours stay
    InlineBackend.instance().figure_formats = {"retina"}
    set_matplotlib_formats("retina")
    formatter = shell.display_formatter.formatters["image/png"]
    retina = formatter.lookup_by_type(Figure)

    def compact(fig):
        out = retina(fig)
        if out is None:  # an empty figure shows nothing
            return None
        data, metadata = out if isinstance(out, tuple) else (out, None)
        smaller = palette_png(base64.b64decode(data) if isinstance(data, str) else data)
        smaller = base64.b64encode(smaller).decode("ascii") if isinstance(data, str) else smaller
        return smaller if metadata is None else (smaller, metadata)

    formatter.for_type(Figure, compact)


def palette_png(png: bytes, colours: int = FIGURE_COLOURS) -> bytes:
    """A PNG re-encoded with a palette of at most ``colours`` colours, without dithering (flat colours stay flat)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    # keep transparency as it is (in these modes getextrema() gives one (min, max) pair per band)
    if image.mode in ("RGBA", "LA") and cast("tuple[tuple[int, int], ...]", image.getextrema())[-1][0] < 255:
        return png
    buffer = io.BytesIO()
    image.convert("RGB").quantize(colours, dither=Image.Dither.NONE).save(buffer, format="png", optimize=True)
    return buffer.getvalue()


def _display(name: str, value, extra_metadata: dict | None = None) -> None:
    """What myst-nb's ``glue(name, value, display=False)`` emits, plus our own metadata."""
    try:
        from IPython.core.formatters import format_display_data
        from IPython.display import display
    except ImportError:  # plain Python: nothing to glue into
        return
    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    metadata.update(extra_metadata or {})
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def _rounded(value, digits: int | None):
    if digits is None:
        return value
    if check_nonnegative_int("digits", digits) == 0:  # "17", not "17.0": a number rounded to units prints as an integer
        return int(round(float(value)))
    return round(float(value), digits)


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def power_of_ten(exponent: int) -> str:
    """``10`` with a superscript exponent, as prose and tick labels write it: ``power_of_ten(-3)`` is ``'10⁻³'``."""
    return f"10{str(exponent).translate(_SUPERSCRIPT)}"


def scientific(value, digits: int = 0) -> str:
    """A number as prose writes it: ``scientific(2e-3)`` is ``'2 × 10⁻³'``, ``scientific(4.2e-5, 1)`` ``'4.2 × 10⁻⁵'``.

    ``digits`` decimals of the mantissa; an exponent of 0 gives the plain mantissa. Glue the string
    (``glue(name, scientific(x))``) where the prose would otherwise show ``1e-05``.
    """
    x = check_finite_number("value", float(value))
    check_nonnegative_int("digits", digits)
    mantissa, exponent_text = f"{x:.{digits}e}".split("e")
    exponent = int(exponent_text)
    if exponent == 0:
        return mantissa
    return f"{mantissa} \u00d7 {power_of_ten(exponent)}"


def glue(name: str, value, digits: int | None = None):
    """Make an exact ``value`` available to the prose as ``{glue:text}`name``` (via myst-nb).

    Floats are rounded to ``digits`` decimals first, so the stored text is the
    number the prose shows; the tests compare that text strictly. Use
    :func:`claim` instead for a number that comes from training or sampling.
    """
    value = _rounded(value, digits)
    _display(name, value)
    return value


def _real(name: str, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


CLAIMS = Path(__file__).resolve().parent.parent / "_data" / "claims"  # <chapter>.json, written by make portability
_claims: dict = {"source": None, "ranges": {}}  # the ranges claim() checks: set by setup(chapter=...) or use_claims


def _range_entry(where: str, entry) -> tuple[float, float, float]:
    if not isinstance(entry, dict) or "within" not in entry or "tol" not in entry:
        raise ValueError(f"{where} must be a mapping with 'within' and 'tol', got {entry!r}")
    within, tol = entry["within"], _real(f"{where}: tol", entry["tol"])
    if not isinstance(within, (tuple, list)) or len(within) != 2:
        raise ValueError(f"{where}: within must be a pair [lo, hi], got {within!r}")
    lo, hi = _real(f"{where}: within[0]", within[0]), _real(f"{where}: within[1]", within[1])
    if lo > hi or tol < 0:
        raise ValueError(f"{where} must have lo <= hi and tol >= 0, got within={within!r}, tol={tol}")
    return lo, hi, tol


def use_claims(chapter) -> None:
    """Take the ranges that :func:`claim` checks from a chapter's file, ``vae_lib/_data/claims/<chapter>.json``
    (``chapter`` a name such as ``"01_autoencoder"``), or from a mapping ``{name: {"within": [lo, hi], "tol": t}}``.
    The files are the one place a range is stated: ``make portability`` measures and writes them."""
    check_instance("chapter", chapter, (str, dict), "a chapter name (str) or a mapping of ranges")
    if isinstance(chapter, dict):
        source, ranges = "the mapping given to use_claims", chapter
    else:
        check_text("chapter", chapter)
        path = CLAIMS / f"{chapter}.json"  # none for a chapter of exact results: then it has no claims
        source = f"vae_lib/_data/claims/{path.name}"
        ranges = json.loads(path.read_text())["claims"] if path.is_file() else {}
    checked = {name: _range_entry(f"{source}: claim {name!r}", entry) for name, entry in ranges.items()}
    _claims.update(source=source, ranges=checked)


def claim(name: str, value, digits: int | None = None):
    """Glue a learned or sampled number, checked against the range the prose promises.

    The range and the drift tolerance live in the chapter's file of claims (:func:`use_claims`), with
    the spread they were measured from. ``within=(lo, hi)`` must hold for every seed, CPU, thread
    count and device, and is checked now, when the cell runs, so a build or a reader's run fails
    with :class:`ClaimError` where the prose would be wrong. ``tol`` is how far the number may move
    from the value stored in the notebook before the tests (nbval, through the root ``conftest.py``)
    call it drift. Returns the rounded value.
    """
    check_text("name", name)
    raw = _real("value", value)
    shown = _rounded(raw, digits)
    if isinstance(value, int) or (isinstance(value, torch.Tensor) and not value.is_floating_point()):
        shown = int(raw)
    if name in _claims["ranges"]:
        lo, hi, tol = _claims["ranges"][name]
        inside = lo <= raw <= hi
        if not inside:
            _fail(f"claim {name!r}: this run gives {raw:.6g}, outside the range [{lo:g}, {hi:g}] that the prose "
                  "relies on")
        record = {"value": raw, "tol": tol, "within": [lo, hi], "inside": inside, "digits": digits}
    else:  # measured by make portability (report mode), which then writes its range
        where = _claims["source"] or "no file of claims (setup(chapter=...) names one)"
        _fail(f"claim {name!r} has no range in {where}: measure one with scripts/portability.py --write-claims")
        record = {"value": raw, "tol": None, "within": None, "inside": False, "digits": digits}
    _display(name, shown, {"vae_book": {"claim": record}})
    return shown


def holds(statement: str, condition) -> None:
    """Assert a qualitative statement of the prose about a run, and print it as checked."""
    check_text("statement", statement)
    if isinstance(condition, torch.Tensor):
        condition = bool(condition)
    check_instance("condition", condition, bool, "a bool")
    if not condition:
        _fail(f"the prose says {statement!r}, and this run does not support it")
    else:
        print(f"holds: {statement}")


# --- Comparing claims with their stored values (used by the root conftest.py and scripts/portability.py) ---


def _claim_of(output) -> dict | None:
    return (output.get("metadata") or {}).get("vae_book", {}).get("claim")


def reconcile_claims(test: list, ref: list) -> tuple[list, list[str]]:
    """Match the claims of a fresh run (``test``) with the stored outputs (``ref``) of one cell.

    A claim that lies within its tolerance of the stored value is replaced by the
    stored output, so the strict comparison of everything else can go on; one that
    does not is left as it is and reported. Returns (outputs to compare, problems).
    """
    stored = {o["metadata"]["scrapbook"]["name"]: o for o in ref if _claim_of(o)}
    out, problems = [], []
    for o in test:
        c = _claim_of(o)
        name = (o.get("metadata") or {}).get("scrapbook", {}).get("name")
        if c is None or name not in stored:
            out.append(o)
            continue
        was = cast(dict, _claim_of(stored[name]))["value"]  # stored holds only outputs with a claim
        if abs(c["value"] - was) <= (c["tol"] or 0):  # a claim without a range (report mode) compares exactly
            out.append(copy.deepcopy(stored[name]))
        else:
            out.append(o)
            problems.append(f"claim {name!r} drifted: this run gives {c['value']:.6g}, the stored output "
                            f"{was:.6g}; they differ by {abs(c['value'] - was):.3g}, more than its tolerance "
                            f"{c['tol'] or 0:g}")
    return out, problems
