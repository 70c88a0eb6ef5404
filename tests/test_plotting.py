"""Image tests of vae_lib.plotting: render a figure with Agg and read back known pixels."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_lib.plotting import image_grid  # noqa: E402


def _pixel(ax, x: float, y: float) -> np.ndarray:
    """The rendered RGB (0-255) at data coordinates (x, y) of ``ax`` (figure already drawn)."""
    fig = ax.figure
    rgba = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return rgba[int(rgba.shape[0] - py), int(px), :3].astype(int)


@pytest.fixture
def grid_ax():
    """Two rows of three all-ink digits (value 1) plus one faint digit (value 0), drawn large."""
    images = torch.ones(5, 28 * 28)
    images[4] = 0.0  # a blank digit: as white as the gutters
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    image_grid(images, nrow=3, ax=ax)
    fig.canvas.draw()
    yield ax
    plt.close(fig)


def test_image_grid_gutters_are_white_and_ink_is_dark(grid_ax):
    # canvas layout: each cell is 1 gutter pixel, 28 digit pixels, 1 gutter pixel; pixel i is centred at i
    mid = 1 + 14  # the middle of the first cell's digit
    gutter = 29.5  # between the first cell's right gutter pixel (29) and the second's left one (30)
    assert (_pixel(grid_ax, mid, mid) < 30).all(), "a pixel of value 1 (ink) must render dark"
    assert (_pixel(grid_ax, gutter, mid) > 225).all(), "the gutter between two digits must render white"
    assert (_pixel(grid_ax, mid, gutter) > 225).all(), "the gutter between two rows must render white"
    assert (_pixel(grid_ax, 2 * 30 + mid, 30 + mid) > 225).all(), "the empty sixth cell must render white"
    assert (_pixel(grid_ax, 30 + mid, 30 + mid) > 225).all(), "a pixel of value 0 must render white"
