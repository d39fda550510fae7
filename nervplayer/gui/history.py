"""What the live charts plot, collected from fit events (plain Python, so it is tested without drawing)."""

from __future__ import annotations

import numpy as np

from ..train import Evaluated, Started, Step


class _Series:
    """A growing float64 column: appends are amortised O(1) and reads are views, not copies of Python lists (a
    long fit has hundreds of thousands of steps, and the charts read them ten times a second)."""

    def __init__(self) -> None:
        self._data = np.empty(1024)
        self.size = 0

    def append(self, value: float) -> None:
        if self.size == len(self._data):
            self._data = np.concatenate([self._data, np.empty(len(self._data))])
        self._data[self.size] = value
        self.size += 1

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]


def envelope(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``2 · buckets`` points that draw like (x, y) at a width of ``buckets`` pixels: each bucket of
    consecutive points becomes its lowest and highest value at the bucket's first x; the tail that fills no whole
    bucket, and always the last point, are kept as they are. Spikes survive, unlike plain subsampling."""
    n = len(y)
    if n <= 2 * buckets:
        return x, y
    k = -(-n // buckets)
    m = (n - 1) - (n - 1) % k
    rows = y[:m].reshape(-1, k)
    ys = np.stack([rows.min(axis=1), rows.max(axis=1)], axis=1).ravel()
    xs = np.repeat(x[:m:k], 2)
    return np.concatenate([xs, x[m:]]), np.concatenate([ys, y[m:]])


class FitHistory:
    """Loss and learning rate per step, quality per evaluation, the epochs the fit plans (from its ``Started``);
    ``version`` counts changes (for redraws).

    The smoothed loss is TensorBoard's: an exponential moving average of weight ``smoothing``, divided by
    (1 − weightᵗ) so that it starts unbiased. It is kept up to date step by step.
    """

    def __init__(self, smoothing: float = 0.6) -> None:
        self._smoothing = smoothing
        self.clear()

    def clear(self) -> None:
        self._step_epoch, self._loss, self._smooth, self._lr = _Series(), _Series(), _Series(), _Series()
        self._acc = 0.0
        self._eval_epoch: list[float] = []
        self._psnr: list[float] = []
        self._ms_ssim: list[float] = []
        self.planned: tuple[float, float] | None = None  # (first epoch, last epoch) of the fit, once it started
        self.version = 0

    def add(self, event: object) -> None:
        if isinstance(event, Step):
            self._step_epoch.append(event.epoch)
            self._loss.append(event.loss)
            self._smooth.append(self._smoothed(event.loss, self._loss.size))
            self._lr.append(event.lr)
        elif isinstance(event, Evaluated):
            self._eval_epoch.append(float(event.epoch))
            self._psnr.append(event.psnr)
            self._ms_ssim.append(event.ms_ssim)
        elif isinstance(event, Started):
            self.planned = (event.start_epoch, float(event.epochs))
        else:
            return
        self.version += 1

    def _smoothed(self, loss: float, count: int) -> float:
        w = self._smoothing
        self._acc = w * self._acc + (1 - w) * loss
        return self._acc / (1 - w**count) if w > 0 else loss

    @property
    def smoothing(self) -> float:
        return self._smoothing

    @smoothing.setter
    def smoothing(self, weight: float) -> None:
        self._smoothing = min(max(weight, 0.0), 0.999)
        self._acc = 0.0
        self._smooth = _Series()
        for count, loss in enumerate(self._loss.values.tolist(), 1):
            self._smooth.append(self._smoothed(loss, count))
        self.version += 1

    @property
    def steps(self) -> int:
        return self._loss.size

    @property
    def evaluations(self) -> int:
        return len(self._psnr)

    def loss(self, buckets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Epoch and loss of every step, or their :func:`envelope` over ``buckets``."""
        return self._per_step(self._loss, buckets)

    def smoothed_loss(self, buckets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._per_step(self._smooth, buckets)

    def lr(self, buckets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._per_step(self._lr, buckets)

    def _per_step(self, series: _Series, buckets: int | None) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._step_epoch.values, series.values
        return (x, y) if buckets is None else envelope(x, y, buckets)

    def psnr(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self._eval_epoch), np.asarray(self._psnr)

    def ms_ssim(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self._eval_epoch), np.asarray(self._ms_ssim)

    def best(self) -> tuple[float, float] | None:
        """(epoch, PSNR) of the best evaluation so far."""
        if not self._psnr:
            return None
        i = int(np.argmax(self._psnr))
        return self._eval_epoch[i], self._psnr[i]

    def loss_range(self) -> tuple[float, float] | None:
        """y range of the loss that ignores the first-step spikes: the first 5% of steps (at most one epoch's
        worth) are left out, and the top is the 99th percentile of the rest."""
        if self._loss.size < 2:
            return None
        loss = self._loss.values
        skip = min(len(loss) // 20, int(np.searchsorted(self._step_epoch.values, 1.0)))
        rest = loss[skip:]
        rest = rest[rest > 0]
        if not len(rest):
            return None
        return float(rest.min()), float(np.percentile(rest, 99))
