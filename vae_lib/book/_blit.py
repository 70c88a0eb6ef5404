"""Fast explorer frames: draw the static part of a figure once, then only what moves.

An explorer pre-renders every slider position. Re-building a figure per frame
spends most of its time laying out text (ticks, labels, legends) that never
changes; here that part is drawn once into a background, and each frame only
restores it, draws the moving artists and hands the pixels over as a Figure.
"""
from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DISPLAY_DPI = 72  # pixels per inch an explorer frame takes on the page (the layout of the first edition)
DPI = 2 * DISPLAY_DPI  # pixels per inch it is rendered with: sharp on HiDPI screens (Explorer's default)


class BlitFigure:
    """Wraps ``fig`` (created with ``dpi=DPI``); ``animated`` are the artists that change per frame."""

    def __init__(self, fig: Figure, animated: list[Artist]) -> None:
        if fig.dpi != DPI:
            raise ValueError(f"fig must be created with dpi={DPI}, got {fig.dpi}")
        for artist in animated:
            artist.set_animated(True)  # left out of the background
        self.fig, self.animated = fig, animated
        self.canvas = FigureCanvasAgg(fig)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def render(self) -> Figure:
        """The current state as a new Figure holding one image of exactly the original pixels."""
        self.canvas.restore_region(self.background)
        for artist in self.animated:
            self.fig.draw_artist(artist)
        rgba = np.asarray(self.canvas.buffer_rgba()).copy()
        height, width = rgba.shape[:2]
        out = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
        out.figimage(rgba, origin="upper")
        return out
