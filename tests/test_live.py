"""vae_lib.book.live, the Python half of the in-page explorers (the JavaScript half: tests/test_browser.py).

The seeded noise against an independent reimplementation of mulberry32 and against N(0, 1); the int8
export against the float decoder it came from; the HTML against what explorers.js reads from it.
"""
from __future__ import annotations

import base64
import io
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from PIL import Image

from vae_lib import book
from vae_lib.book import live, noise

ROOT = Path(__file__).resolve().parent.parent


def _mulberry32_numpy(seed: int, n: int) -> np.ndarray:
    """mulberry32 written with numpy's wrapping uint32 arithmetic (the reference's own way of wrapping)."""
    a, out = np.uint32(seed), []
    with np.errstate(over="ignore"):
        for _ in range(n):
            a = np.uint32(a + np.uint32(0x6D2B79F5))
            t = np.uint32(np.uint32(a ^ (a >> np.uint32(15))) * np.uint32(a | np.uint32(1)))
            t = np.uint32(t ^ np.uint32(t + np.uint32(np.uint32(t ^ (t >> np.uint32(7))) * np.uint32(t | np.uint32(61)))))
            out.append(float(np.uint32(t ^ (t >> np.uint32(14)))) / 4294967296)
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 - 1])
def test_seeded_uniform_is_mulberry32(seed):
    np.testing.assert_array_equal(noise.seeded_uniform(200, seed), _mulberry32_numpy(seed, 200))


def test_seeded_normal_is_standard_normal_and_reproducible():
    z = noise.seeded_normal(5000, 2, seed=3)
    assert z.shape == (5000, 2) and z.dtype == torch.float64
    for column in z.T:
        assert scipy.stats.kstest(column.numpy(), "norm").pvalue > 1e-3
    assert abs(float(torch.corrcoef(z.T)[0, 1])) < 0.05
    torch.testing.assert_close(noise.seeded_normal(5000, 2, seed=3), z, rtol=0, atol=0)
    # an odd count uses the first of the last pair, as the page does
    torch.testing.assert_close(noise.seeded_normal(3, 1, seed=3).reshape(-1), z.reshape(-1)[:3], rtol=0, atol=0)


def _mlp(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 9))


def test_export_rounds_each_weight_by_at_most_half_its_rows_scale():
    mlp = _mlp()
    exported = live.export_mlp(mlp)
    assert [layer["activation"] for layer in exported["layers"]] == ["relu", "sigmoid"]
    for layer, linear in zip(exported["layers"], (mlp[0], mlp[2])):
        q = np.frombuffer(zlib.decompress(base64.b64decode(layer["weight"])), np.int8).reshape(layer["out"], layer["in"])
        scale = np.frombuffer(base64.b64decode(layer["scale"]), np.float32)
        w = linear.weight.detach().double().numpy()
        assert np.abs(q).max() == 127  # the largest weight of some row uses the full range
        assert np.all(np.abs(q * scale[:, None].astype(np.float64) - w) <= scale[:, None] / 2 * (1 + 1e-6))
    assert live.exported_size(exported) == (5 * 16 + 16 * 9) + 4 * 2 * (16 + 9)  # int8 weights, float32 scales and biases
    corrupt = {"layers": [{**exported["layers"][0], "weight": base64.b64encode(b"not zlib").decode()}]}
    with pytest.raises(ValueError, match="^exported layer weights are corrupt"):
        live.exported_forward(corrupt, torch.zeros(1, 5))


def test_exported_forward_is_the_mlp_with_its_rounded_weights():
    mlp = _mlp(1)
    exported = live.export_mlp(mlp)
    z = torch.randn(7, 5, dtype=torch.float64)
    rounded = _mlp(1).double()
    with torch.no_grad():
        for linear, layer in zip((rounded[0], rounded[2]), exported["layers"]):
            b64 = base64.b64decode
            q = np.frombuffer(zlib.decompress(b64(layer["weight"])), np.int8).reshape(layer["out"], layer["in"]).astype(np.float32)
            linear.weight.copy_(torch.from_numpy(q * np.frombuffer(b64(layer["scale"]), np.float32)[:, None]))
            linear.bias.copy_(torch.from_numpy(np.frombuffer(b64(layer["bias"]), np.float32).copy()))
        expected = torch.sigmoid(rounded(z))
    torch.testing.assert_close(live.exported_forward(exported, z), expected, rtol=0, atol=1e-12)
    # and close to the float model: the rounding moves each output little
    assert (live.exported_forward(exported, z) - torch.sigmoid(mlp.double()(z))).abs().max() < 0.01


def test_html_carries_the_spec_the_learned_data_and_the_script(monkeypatch):
    monkeypatch.setattr(live, "_SHIPPED", False)  # as in a fresh kernel: this is the first output
    slider = live.Slider("variance", "s²", 0.01, 100.0, 1.0, ticks=(0.01, 1.0, 100.0), log=True)
    explorer = live.LiveExplorer("demo", "decoder-variance", [slider],
                                 {"eigenvalues": [2.0, 0.5], "n_show": 2, "latent_dim": 1},
                                 learned={"note": "</script><b>"}, description="a figure </script> here")
    page = explorer.html()
    assert page.count("<script") == 3 and page.count("</script>") == 3  # nothing inside ends a script early
    spec = json.loads(re.search(r'class="vae-explorer-spec">(.*?)</script>', page).group(1))
    assert spec["kind"] == "decoder-variance" and spec["sliders"][0]["log"] is True
    assert spec["sliders"][0]["ticks"] == [0.01, 1.0, 100.0] and spec["description"] == "a figure </script> here"
    assert "stops" not in spec["sliders"][0]  # a continuous slider
    stepped = live.Slider("beta", "β", 0.1, 10.0, 1.0, log=True, stops=(0.1, 1, 10.0)).spec()
    assert stepped["stops"] == [0.1, 1.0, 10.0] and all(type(t) is float for t in stepped["stops"])
    learned = json.loads(re.search(r'class="vae-explorer-learned">(.*?)</script>', page).group(1))
    assert learned == {"note": "</script><b>"}
    assert live.script() in page and "window.VAEExplorers" in live.script()
    assert 'id="explorer-demo"' in page and explorer.html(standalone=True) == page
    # where no script runs, the reader sees what the explorer is and how to start it
    assert 'class="vae-explorer-waiting">Explorer: a figure &lt;/script&gt; here It is drawn by JavaScript' in page
    assert "LiveExplorer('demo'" in repr(explorer)


def _demo() -> live.LiveExplorer:
    slider = live.Slider("variance", "s²", 0.01, 100.0, 1.0, log=True)
    return live.LiveExplorer("demo", "decoder-variance", [slider], {"eigenvalues": [2.0], "n_show": 1, "latent_dim": 1},
                             description="a figure")


def test_the_script_is_shipped_once_per_page_and_in_every_colab_output(monkeypatch):
    import sys

    monkeypatch.setattr(live, "_SHIPPED", False)
    first, second, third = _demo()._repr_html_(), _demo()._repr_html_(), _demo().html(standalone=True)
    assert live.script() in first and live.script() in third
    # a later output of the same page only asks the first one's script to mount it
    assert live.script() not in second and live._MOUNT in second and len(second) < len(first) - 20_000
    monkeypatch.setitem(sys.modules, "google.colab", sys)  # in Colab every output is its own frame
    assert live.script() in _demo()._repr_html_()


def test_one_registry_ties_each_kind_to_its_builder_its_drawing_and_its_reference():
    import inspect

    from vae_lib.book import kinds

    drawn = set(re.findall(r'KINDS\["([a-z-]+)"\] = function', live.SCRIPT.read_text()))
    assert drawn == set(kinds.KINDS) == set(live.KINDS)
    for name, kind in kinds.KINDS.items():
        builder, reference = kinds.resolve(kind.builder), kinds.resolve(kind.reference)
        assert f'"{name}"' in inspect.getsource(builder), f"{kind.builder} does not build a {name!r} explorer"
        assert list(inspect.signature(reference).parameters) == ["data", "learned", "values"], kind.reference
        for chapter in kind.chapters:
            source = (ROOT / "chapters" / f"{chapter}.ipynb").read_text()
            assert kind.builder.split(":")[1] in source, f"{chapter} does not call {kind.builder}"
    with pytest.raises(ValueError, match="kind must be one of"):
        kinds.reference("no-such-kind")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()


def test_palette_png_keeps_the_picture_with_at_most_256_colours():
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 300 * 200 * 3).reshape(200, 300, 3).astype(np.uint8)
    noisy = np.clip(smooth.astype(int) + rng.integers(-3, 4, smooth.shape), 0, 255).astype(np.uint8)
    original = _png(Image.fromarray(noisy))
    small = Image.open(io.BytesIO(book.palette_png(original)))
    assert small.mode == "P" and small.size == (300, 200) and len(small.getcolors(10_000)) <= book.FIGURE_COLOURS
    difference = np.abs(np.asarray(small.convert("RGB"), dtype=int) - noisy)
    assert difference.mean() < 4
    # a transparent image is left as it is: a palette would flatten its alpha
    rgba = np.zeros((10, 10, 4), np.uint8)
    transparent = _png(Image.fromarray(rgba, "RGBA"))
    assert book.palette_png(transparent) == transparent
