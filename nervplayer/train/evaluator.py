"""A fit's evaluations: every frame of the clip scored against the current weights (under torchrun each process
scores its share), pooled over all, seen and unseen frames, with a preview frame, as an ``Evaluated`` event."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..video import FrameStore
from .distributed import World, frame_share, gather_metrics
from .evaluate import evaluate, summary
from .events import Evaluated
from .network import FitNetwork


class Evaluator:
    """Scores ``network``'s frames (decoded in the fit's precision) against ``store``, the frames trained on
    (``seen``) and held out (``unseen``) apart. ``losses`` collects the training losses since the last evaluation
    (their mean goes to metrics.csv)."""

    def __init__(
        self,
        network: FitNetwork,
        store: FrameStore,
        seen: Sequence[int],
        unseen: Sequence[int],
        world: World,
        preview_index: int,
    ) -> None:
        self.network, self.store = network, store
        self.seen, self.unseen, self.world = seen, unseen, world
        self.preview_index = min(max(preview_index, 0), store.num_frames - 1)
        self.losses: list[float] = []
        self.last: Evaluated | None = None  # the latest evaluation

    def __call__(self, epoch: int, step: int, elapsed: float, seconds_per_epoch: float) -> Evaluated | None:
        """Every process scores its share of the frames (none waits idle through a long evaluation in a
        collective); rank 0 gets the whole clip's evaluation, the others None."""
        self.network.encode_latents(self.store)
        share = evaluate(self.network.predict_in_precision, self.store, frame_share(self.store.num_frames, self.world))
        metrics = gather_metrics(share, self.store.num_frames, self.world, self.store.device)
        if not self.world.main:
            return None
        pooled = summary(metrics, self.seen, self.unseen)
        seen, unseen = pooled["seen"], pooled["unseen"]
        self.last = Evaluated(
            epoch=epoch,
            step=step,
            psnr=pooled["all"]["psnr"],
            ms_ssim=pooled["all"]["ms_ssim"],
            psnr_seen=seen["psnr"],
            psnr_unseen=unseen["psnr"] if unseen else None,
            ms_ssim_seen=seen["ms_ssim"],
            ms_ssim_unseen=unseen["ms_ssim"] if unseen else None,
            per_frame_psnr=metrics.psnr.tolist(),
            elapsed=elapsed,
            seconds_per_epoch=seconds_per_epoch,
            preview_index=self.preview_index,
            preview=self.network.decode([self.preview_index])[0],
        )
        return self.last

    def take_loss(self) -> float | None:
        """The mean training loss since the last call (None if no step ran)."""
        loss = float(np.mean(self.losses)) if self.losses else None
        self.losses.clear()
        return loss
