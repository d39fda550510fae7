"""Zoom and pan as plain geometry: a view pixel is ``offset + scale × image pixel``."""

from __future__ import annotations

MIN_SCALE, MAX_SCALE = 1 / 32, 64.0


class ViewTransform:
    """Starts in fit mode (the frame fills the view, centred); zooming or panning leaves it."""

    def __init__(self) -> None:
        self.scale = 1.0
        self.ox = self.oy = 0.0
        self.fit = True
        self._view = (1, 1)
        self._image = (1, 1)

    def layout(self, view_w: int, view_h: int, image_w: int, image_h: int) -> None:
        """Record the view and image sizes (width, height); re-fit if in fit mode."""
        self._view, self._image = (max(view_w, 1), max(view_h, 1)), (max(image_w, 1), max(image_h, 1))
        if self.fit:
            self.fit_view()

    def fit_view(self) -> None:
        (vw, vh), (iw, ih) = self._view, self._image
        self.fit = True
        self.scale = min(vw / iw, vh / ih)
        self.ox, self.oy = round((vw - iw * self.scale) / 2), round((vh - ih * self.scale) / 2)

    def one_to_one(self) -> None:
        """Native size (1 frame pixel = 1 screen pixel), keeping the frame point at the view centre in place."""
        vw, vh = self._view
        self.zoom_at(vw / 2, vh / 2, 1.0 / self.scale)
        self.scale, self.ox, self.oy = 1.0, round(self.ox), round(self.oy)

    def zoom_at(self, x: float, y: float, factor: float) -> None:
        """Scale by ``factor`` keeping the image point under view point (x, y) fixed."""
        new = min(max(self.scale * factor, MIN_SCALE), MAX_SCALE)
        ix, iy = self.to_image(x, y)
        self.scale = new
        self.ox, self.oy = x - ix * new, y - iy * new
        self.fit = False

    def pan(self, dx: float, dy: float) -> None:
        self.ox += dx
        self.oy += dy
        self.fit = False

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.ox) / self.scale, (y - self.oy) / self.scale

    def to_view(self, x: float, y: float) -> tuple[float, float]:
        return self.ox + x * self.scale, self.oy + y * self.scale
