"""Chapter 7's drawing explorer on vae_lib's side: the brush, the centring, the inked pixels, the exported
halves and the reference numbers the browser test compares the page with (tests/test_browser.py)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

import vae_lib
from vae_lib.book import live
from vae_lib.chapters import draw_digit as dd
from vae_lib.chapters import elbo_gap
from vae_lib.divergences import kl_diag_gaussian_to_standard_normal

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def setting():
    split = vae_lib.data.load_dataset("embedded")
    vae, _ = elbo_gap.load_reference_vae()
    explorer = dd.draw_explorer("draw-test", vae, split.train.images, split.heldout.images, split.heldout.labels,
                                kl_equation="5.11", n_digits=4, samples=8)
    return split, vae, explorer


def test_one_stamp_inks_the_pixels_around_it_as_the_formula_says():
    ink = dd.stroke_ink([[(14.5, 10.5)]]).reshape(28, 28)
    assert ink[10, 14] == 1 and ink[10, 15] == pytest.approx(dd.BRUSH) and ink[10, 16] == 0
    assert ink[11, 15] == pytest.approx(dd.BRUSH + 1 - math.sqrt(2))
    assert ink.sum() == pytest.approx(sum(max(0.0, min(1.0, dd.BRUSH + 1 - math.hypot(c - 14, r - 10)))
                                          for r in range(28) for c in range(28)))


def test_a_stroke_is_joined_by_stamps_and_keeps_the_darker_ink():
    line = dd.stroke_ink([[(5.5, 14.5), (20.5, 14.5)]]).reshape(28, 28)
    assert (line[14, 5:21] == 1).all() and line[13, 5:21].min() == pytest.approx(dd.BRUSH)
    twice = dd.stroke_ink([[(5.5, 14.5), (20.5, 14.5)], [(5.5, 14.5), (20.5, 14.5)]])
    assert torch.equal(twice, line.reshape(-1))


@pytest.mark.parametrize("bad, words", [([[(1.0, 2.0, 3.0)]], "strokes[0]"), ([[]], "strokes[0]"),
                                        ([[(float("nan"), 1.0)]], "strokes[0]"), ("abc", "strokes")])
def test_bad_strokes_are_named(bad, words):
    with pytest.raises((ValueError, TypeError), match=words.replace("[", r"\[").replace("]", r"\]")):
        dd.stroke_ink(bad)


def test_centring_leaves_every_held_out_digit_and_moves_a_drawing(setting):
    split, _, _ = setting
    for x in split.heldout.images.double():
        assert torch.equal(dd.centre(x), x)
    image = split.heldout.images[0].double().reshape(28, 28)
    moved = torch.roll(image, shifts=(3, -4), dims=(0, 1))  # the digit's border is blank: nothing wraps
    assert torch.equal(dd.centre(moved.reshape(-1)), image.reshape(-1))
    blank = torch.zeros(784, dtype=torch.float64)
    assert torch.equal(dd.centre(blank), blank)
    with pytest.raises(ValueError, match="x must have shape"):
        dd.centre(torch.zeros(10))


def test_the_inked_pixels_are_those_some_training_digit_inks(setting):
    split, _, explorer = setting
    inked = torch.tensor(explorer.learned["inked"])
    x = split.train.images
    assert (x[:, inked] > 0).any(0).all()
    outside = torch.ones(784, dtype=torch.bool)
    outside[inked] = False
    assert (x[:, outside] == 0).all() and 0 < outside.sum() < 784


def test_the_page_halves_stay_within_their_budgets(setting):
    split, vae, explorer = setting
    code_error = dd.exported_code_error(explorer, vae, split.heldout.images)
    assert max(code_error) < dd.MAX_CODE_ERROR
    with torch.no_grad():
        mu, _ = vae.encode(split.heldout.images)
    top, mean = dd.exported_pixel_error(explorer, vae, mu)
    assert top < live.MAX_PIXEL_ERROR and mean < live.MEAN_PIXEL_ERROR


def test_the_reference_is_the_elbo_of_the_exported_weights(setting):
    """draw_state's numbers against an independent computation from the dequantised weights."""
    split, vae, explorer = setting
    got = dd.draw_state(explorer.data, explorer.learned, {"digit": 2})
    x = torch.round(255 * split.heldout.images[2].double()) / 255  # the page holds 8-bit grey levels
    out = live.exported_forward(explorer.learned["encoder"], x[explorer.learned["inked"]][None])[0]
    mu, logvar = out[:20], out[20:]
    assert torch.allclose(torch.tensor(got["mu"], dtype=torch.float64), mu) and torch.allclose(torch.tensor(got["logvar"], dtype=torch.float64), logvar)
    assert got["kl"] == pytest.approx(kl_diag_gaussian_to_standard_normal(mu, logvar).item(), rel=1e-12)
    eps = vae_lib.book.noise.seeded_normal(8, 20, explorer.data["seed"]).double()
    z = mu + torch.exp(0.5 * logvar) * eps
    p = torch.sigmoid(live.exported_forward(explorer.learned["decoder"], z))
    rec = (x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    assert got["rec"] == pytest.approx(rec.mean().item(), abs=1e-6)
    assert got["elbo"] == pytest.approx(got["rec"] - got["kl"], abs=1e-9)
    normal = torch.distributions.Normal
    logw = rec + normal(0, 1).log_prob(z).sum(1) - normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    assert got["log_px"] == pytest.approx((torch.logsumexp(logw, 0) - math.log(8)).item(), abs=1e-6)
    # and the float32 model agrees within what the int8 export costs
    with torch.no_grad():
        mu32, _ = vae.encode(split.heldout.images[2:3])
    assert (mu32[0].double() - mu).abs().max() < dd.MAX_CODE_ERROR


def test_the_explorer_checks_its_arguments(setting):
    split, vae, _ = setting
    args = (vae, split.train.images, split.heldout.images, split.heldout.labels)
    with pytest.raises(TypeError, match="model must be a vae_lib.VAE"):
        dd.draw_explorer("x", vae_lib.AutoEncoder(vae_lib.ModelConfig()), *args[1:], kl_equation="5.11")
    with pytest.raises(ValueError, match="kl_equation"):
        dd.draw_explorer("x", *args, kl_equation="")
    with pytest.raises(ValueError, match="n_digits"):
        dd.draw_explorer("x", *args, kl_equation="5.11", n_digits=10_000)
    with pytest.raises(ValueError, match="x_heldout must hold 8-bit grey levels"):
        dd.draw_explorer("x", vae, split.train.images, split.heldout.images * 0.999, split.heldout.labels,
                         kl_equation="5.11")


@pytest.mark.parametrize("bits", [1, 9, 7.0, True, (8,), (8, 8, 8), (8, 1)])
def test_export_bits_must_be_an_int_from_2_to_8(bits):
    with pytest.raises((TypeError, ValueError), match="bits"):
        live.export_mlp(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)),
                        bits=bits)


@pytest.mark.parametrize("bits", [2, 5, 8, (3, 6)])
def test_fewer_bits_use_fewer_levels(bits):
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(50, 40), torch.nn.ReLU(), torch.nn.Linear(40, 30))
    per_layer = bits if isinstance(bits, tuple) else (bits, bits)
    for layer, b in zip(live.export_mlp(mlp, bits=bits)["layers"], per_layer):
        assert abs(live._int8_weights(layer)).max() == 2 ** (b - 1) - 1


def test_the_page_names_the_kl_by_its_number_in_the_book():
    """The chapter passes the closed-form KL's equation number as text; it must be the registry's."""
    registry = yaml.safe_load((ROOT / "pages" / "equations.yml").read_text())
    entries = next(v for v in registry.values() if isinstance(v, list))
    number = next(e["number"] for e in entries if e["label"] == "kl-closed-form")
    nb = json.loads((ROOT / "chapters" / "07_elbo_gap.ipynb").read_text())
    specs = [json.loads(html.split('class="vae-explorer-spec">')[1].split("</script>")[0])
             for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
             for html in ["".join(o.get("data", {}).get("text/html", []))] if 'data-kind="draw-digit"' in html]
    assert len(specs) == 1 and specs[0]["data"]["kl_equation"] == number
