"""vae_lib.book.widgets.Explorer: pre-rendered frames, their index arithmetic, names, display bundles."""
from __future__ import annotations

import base64
import html
import itertools
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from vae_lib.book.widgets import Explorer  # noqa: E402

PARAMS = {"a": [0.0, 1.0], "b": [-1.0, 0.0, 1.0], "c": [0.5, 2.0]}  # 12 frames, three sliders


class Recorder:
    """A cheap draw function that remembers every call; each frame differs (its text shows the values)."""

    def __init__(self):
        self.calls = []

    def __call__(self, **values):
        self.calls.append(values)
        fig, ax = plt.subplots(figsize=(1.2, 0.8))
        ax.text(0.1, 0.4, " ".join(f"{v:g}" for v in values.values()), fontsize=6)
        ax.set_axis_off()
        return fig


@pytest.fixture(scope="module")
def rendered():
    draw = Recorder()
    e = Explorer("test-explorer", draw, PARAMS, labels={"a": "alpha"})
    page = e.static_html()
    spec = json.loads(re.search(r'<script type="application/json">(.*?)</script>', page, re.S).group(1))
    return e, draw, page, spec


def test_one_frame_per_grid_point_in_product_order(rendered):
    e, draw, page, spec = rendered
    combos = list(itertools.product(*PARAMS.values()))
    assert len(spec["frames"]) == len(combos) == 12
    assert draw.calls[: len(combos)] == [dict(zip(PARAMS, c)) for c in combos]  # drawn in that order
    assert len(set(spec["frames"])) == len(combos)  # all frames differ
    for frame in spec["frames"]:
        assert base64.b64decode(frame).startswith(b"\x89PNG")
    assert spec["sizes"] == [2, 3, 2] and spec["values"] == list(PARAMS.values())


def test_index_arithmetic_matches_itertools_product(rendered):
    e, *_ = rendered
    sizes = [len(g) for g in PARAMS.values()]
    positions = itertools.product(*(range(n) for n in sizes))
    assert [Explorer._index(list(p), sizes) for p in positions] == list(range(12))
    # the JavaScript uses the same row-major rule: i = i * size_j + position_j
    assert "i = i * spec.sizes[j] + p;" in rendered[2]


def test_frame_content_matches_its_parameters(rendered):
    e, draw, page, spec = rendered
    sizes = spec["sizes"]
    for pos in [(0, 0, 0), (1, 2, 1), (0, 1, 1)]:
        values = {k: PARAMS[k][p] for k, p in zip(PARAMS, pos)}
        assert spec["frames"][Explorer._index(list(pos), sizes)] == e._frame(values)  # rendering is deterministic


def test_initial_frame_and_sliders(rendered):
    e, draw, page, spec = rendered
    assert e.initial == {"a": 1.0, "b": 0.0, "c": 2.0}  # the middle (upper middle) of each grid
    start = Explorer._index([1, 1, 1], spec["sizes"])
    assert f'data-frame="{start}"' in page
    assert f'src="data:image/png;base64,{spec["frames"][start]}"' in page
    sliders = re.findall(r'<input type="range" data-key="(\w+)" min="0" max="(\d+)" step="1" value="(\d+)"', page)
    assert sliders == [("a", "1", "1"), ("b", "2", "1"), ("c", "1", "1")]
    assert "alpha = " in page and "b = " in page  # labels default to the parameter name
    assert 'id="explorer-test-explorer"' in page


def test_mimebundle_has_html_and_plain_text():
    e = Explorer("tiny", Recorder(), {"s": [1, 2]})
    bundle = e._repr_mimebundle_()
    assert bundle["text/plain"] == "Explorer('tiny': sliders s)"
    assert bundle["text/html"].startswith('<div class="vae-explorer" id="explorer-tiny"')
    assert bundle["text/html"] == e.static_html()
    assert bundle["text/html"].count("<img ") == 1  # one image; the other frames sit in the JSON


def test_the_live_widget_builds():
    w = pytest.importorskip("ipywidgets")
    draw = Recorder()
    e = Explorer("live", draw, {"s": [1.0, 2.0, 3.0], "t": [0.0, 1.0]}, labels={"s": "scale"})
    box = e.widget()
    sliders, image = box.children[:-1], box.children[-1]
    assert isinstance(box, w.VBox) and isinstance(image, w.Image) and len(sliders) == 2
    assert [s.description for s in sliders] == ["scale", "t"]
    assert [s.value for s in sliders] == [2.0, 1.0]
    assert draw.calls == [{"s": 2.0, "t": 1.0}]
    sliders[0].value = 3.0  # moving a slider redraws with the new values
    assert draw.calls[-1] == {"s": 3.0, "t": 1.0}
    assert bytes(image.value) == base64.b64decode(e._frame({"s": 3.0, "t": 1.0}))


def test_the_live_view_needs_nothing_from_ipywidgets_8(monkeypatch):
    w = pytest.importorskip("ipywidgets")
    # ipywidgets 7, which Colab ships, has no Widget._repr_mimebundle_ (it displays through
    # _ipython_display_): the bundle must not depend on it
    monkeypatch.delattr(w.Widget, "_repr_mimebundle_", raising=False)
    e = Explorer("live", Recorder(), {"s": [1.0, 2.0]})
    boxes, build = [], e.widget
    monkeypatch.setattr(e, "widget", lambda: boxes.append(build()) or boxes[-1])
    view = e._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]
    assert view == {"version_major": 2, "version_minor": 0, "model_id": boxes[0].model_id}


@pytest.mark.parametrize("name", ["Bad", "under_score", "-lead", "trail-", "double--hyphen", "", "with space"])
def test_names_must_be_lowercase_hyphen(name):
    with pytest.raises(ValueError, match="name must be lowercase-hyphen"):
        Explorer(name, Recorder(), {"s": [1, 2]})


def test_params_are_validated():
    with pytest.raises(ValueError, match="params must name at least one slider"):
        Explorer("x", Recorder(), {})
    with pytest.raises(ValueError, match=r"params\['s'\] must hold at least two values"):
        Explorer("x", Recorder(), {"s": [1.0]})


def test_labels_are_escaped():
    page = Explorer("esc", Recorder(), {"s": [1, 2]}, labels={"s": "a<b"}).static_html()
    assert html.escape("a<b") in page and "a<b =" not in page


def test_frames_are_sharp_palette_pngs_shown_at_the_page_size():
    # a 1.2 x 0.8 inch figure: rendered at DPI (2 x), stored with a palette, displayed 72 px per inch
    import io

    from PIL import Image

    from vae_lib.book._blit import DISPLAY_DPI, DPI

    e = Explorer("sharp", Recorder(), {"s": [1, 2]})
    frame = Image.open(io.BytesIO(base64.b64decode(e.frames()[0])))
    assert DPI >= 2 * DISPLAY_DPI
    assert frame.size == (int(1.2 * DPI), int(0.8 * DPI))  # Agg truncates to whole pixels
    assert frame.mode == "P"  # palette: a quarter of the bytes of RGBA for the same pixels
    assert f'width="{round(1.2 * DISPLAY_DPI)}"' in e.static_html()
