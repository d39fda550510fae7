"""What the live charts plot, collected from fit events (plain Python, so it is tested without drawing)."""

from __future__ import annotations

import numpy as np

from ..train import Evaluated, Step


class FitHistory:
    """Loss and learning rate per step, quality per evaluation; ``version`` counts changes (for redraws).

    The smoothed loss is TensorBoard's: an exponential moving average of weight ``smoothing``, divided by
    (1 − weightᵗ) so that it starts unbiased. It is kept up to date step by step.
    """

    def __init__(self, smoothing: float = 0.6) -> None:
        self._smoothing = smoothing
        self.clear()

    def clear(self) -> None:
        self._step_epoch: list[float] = []
        self._loss: list[float] = []
        self._smooth: list[float] = []
        self._acc = 0.0
        self._lr: list[float] = []
        self._eval_epoch: list[float] = []
        self._psnr: list[float] = []
        self._ms_ssim: list[float] = []
        self.version = 0

    def add(self, event: object) -> None:
        if isinstance(event, Step):
            self._step_epoch.append(event.epoch)
            self._loss.append(event.loss)
            self._smooth.append(self._smoothed(event.loss))
            self._lr.append(event.lr)
        elif isinstance(event, Evaluated):
            self._eval_epoch.append(float(event.epoch))
            self._psnr.append(event.psnr)
            self._ms_ssim.append(event.ms_ssim)
        else:
            return
        self.version += 1

    def _smoothed(self, loss: float) -> float:
        w = self._smoothing
        self._acc = w * self._acc + (1 - w) * loss
        return self._acc / (1 - w ** len(self._loss)) if w > 0 else loss

    @property
    def smoothing(self) -> float:
        return self._smoothing

    @smoothing.setter
    def smoothing(self, weight: float) -> None:
        self._smoothing = min(max(weight, 0.0), 0.999)
        self._acc = 0.0
        losses, self._loss, self._smooth = self._loss, [], []
        for loss in losses:
            self._loss.append(loss)
            self._smooth.append(self._smoothed(loss))
        self.version += 1

    @property
    def steps(self) -> int:
        return len(self._loss)

    @property
    def evaluations(self) -> int:
        return len(self._psnr)

    def loss(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self._step_epoch), np.asarray(self._loss)

    def smoothed_loss(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self._step_epoch), np.asarray(self._smooth)

    def lr(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self._step_epoch), np.asarray(self._lr)

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
        if len(self._loss) < 2:
            return None
        loss = np.asarray(self._loss)
        skip = min(len(loss) // 20, int(np.searchsorted(self._step_epoch, 1.0)))
        rest = loss[skip:]
        rest = rest[rest > 0]
        if not len(rest):
            return None
        return float(rest.min()), float(np.percentile(rest, 99))
