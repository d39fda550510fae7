"""The compression pipeline: run folder → prune → fine-tune (mask fixed) → quantize → entropy-code → ``.nerv``.

With ``options.target``, the bit width, pruning ratio and step are chosen by rate control
(:mod:`.ratecontrol`) to meet a size or a quality, the fine-tune (if pruning asks for one) run once, at the
chosen ratio.

``Compressor(run, output, options).run()`` yields the fine-tune's :mod:`~nervplayer.train.events` (it is a
fit, through the same ``Fitter``, in ``RUN/compress/<settings>/``, so an interrupted fine-tune resumes) and
:class:`Stage` events, and ends with a :class:`Compressed` report. ``cancel()`` may be called from any thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

import torch

from ..device import resolve_device
from ..errors import Cancelled, ConfigError, VideoError
from ..model import architectures
from ..model.spec import NERV
from ..plugins import get_registry
from ..train import Finished, FitConfig, Fitter, Run, load_source, open_run
from ..train.checkpoint import load_weights
from ..train.events import Event as FitEvent
from ..train.recipe import resolve_recipe
from ..train.runfolder import CHECKPOINT, WEIGHTS
from ..video import FrameStore, file_hash
from .bitalloc import allocate_bits
from .entropy import CODERS, MASK_MODELS
from .measure import Compressed, SearchProbe, compressed_report, file_metrics
from .nervfile import NervFile, encode, save
from .packing import activation_ref, pack_learned, pack_model, video_record
from .prune import global_magnitude_masks, sparsity
from .qat import enable_fake_quant
from .quantize import MAX_BITS, MIN_BITS
from .ratecontrol import WINDOW, RateSearch, Setting, Target, TargetUnreachable, families
from .stepsearch import decode_bound, search_steps
from .story import Story, frame_values, recipe, run_curves


@dataclass(frozen=True)
class CompressOptions:
    prune: float = 0.4  # fraction of stem and block weights removed (0.4 keeps 60%)
    finetune_epochs: int = 50
    bits: int = 8
    per_channel: bool = True
    coder: str = "ans"
    mask_model: str = "tensor"
    layer_bits: bool = False  # choose a bit width per layer at the quality of uniform `bits`
    qat: bool = False  # fake-quantize during the fine-tune
    device: str = "auto"
    evaluate: bool = True  # decode the result and measure it against the source
    target: Target | None = None  # rate control: bits, pruning and step are searched to meet it
    fixed: tuple[str, ...] = ()  # of "bits", "prune": what the user set, which a target search keeps
    # a rate-aware run's learned steps searched in powers of two (codec/stepsearch.py), at the run's λ or this one
    step_search: bool = False
    step_search_lambda: float | None = None

    def validate(self) -> None:
        if not 0 <= self.prune < 1:
            raise ConfigError(f"prune ratio is the fraction removed, in [0, 1); got {self.prune}")
        if self.finetune_epochs < 0:
            raise ConfigError(f"fine-tune epochs must be >= 0, got {self.finetune_epochs}")
        if not MIN_BITS <= self.bits <= MAX_BITS:
            raise ConfigError(f"bit width must be in {MIN_BITS}..{MAX_BITS}, got {self.bits}")
        if self.coder not in CODERS:
            raise ConfigError(f"unknown entropy coder {self.coder!r}; available: {', '.join(CODERS)}")
        if self.mask_model not in MASK_MODELS:
            raise ConfigError(f"unknown mask model {self.mask_model!r}; available: {', '.join(MASK_MODELS)}")
        if self.target is not None and {"bits", "prune"} <= set(self.fixed):
            raise ConfigError(
                f"a target ({self.target.label()}) chooses the bit width and the pruning ratio: with both "
                "--bits and --prune given there is nothing left to choose; drop one of them"
            )
        if self.target is not None and self.layer_bits:
            raise ConfigError("a target chooses one bit width for the whole model: drop --layer-bits")
        if self.step_search_lambda is not None and not self.step_search:
            raise ConfigError("--step-search-lambda is the λ of --step-search: give --step-search too")
        if self.step_search_lambda is not None and not 0 < self.step_search_lambda < math.inf:
            raise ConfigError(f"--step-search-lambda must be a positive number, got {self.step_search_lambda:g}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (a segmented run's plan records them): the target as its own dict."""
        return {**dataclasses.asdict(self), "fixed": list(self.fixed)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompressOptions:
        """The options :meth:`to_dict` recorded (a record without a target or fixed choices has none)."""
        target = d.get("target")
        fixed = d.get("fixed", ())
        if target is not None and not isinstance(target, dict):
            raise ConfigError(f"not a rate target: {target!r}")
        if not isinstance(fixed, (list, tuple)):
            raise ConfigError(f"not a list of fixed choices: {fixed!r}")
        return cls(**{**d, "target": Target.from_dict(target) if target else None, "fixed": tuple(fixed)})

    def finetune_key(self, weights_digest: str, bits: dict[str, int]) -> str:
        """Folder name of the fine-tune: the same run weights (``weights_digest``) and the same options that shape
        the fine-tune (prune ratio, epochs, and with QAT the bit widths and ranges it trains at) share and resume
        it; anything else gets its own folder, so a re-fitted run never reuses a stale fine-tune."""
        key = f"prune{self.prune:.4f}-ft{self.finetune_epochs}"
        shaping: dict[str, Any] = {"weights": weights_digest, "prune": self.prune, "epochs": self.finetune_epochs}
        if self.qat:
            key += f"-qat{self.bits}{'c' if self.per_channel else 't'}{'-lb' if self.layer_bits else ''}"
            shaping.update(bits=bits, per_channel=self.per_channel)
        digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:12]
        return f"{key}-{digest}"


@dataclass(frozen=True)
class Stage:
    """A pipeline step begins (``name``: prune, finetune, allocate, quantize, evaluate, write)."""

    name: str
    detail: str = ""


Event = FitEvent | Stage | Compressed


def source_reference(run: Run, video: str | None, device: torch.device) -> FrameStore:
    """The frames the run was fitted to (its range and size), from ``video`` or the run's recorded path;
    a video whose hash differs from the run's is refused."""
    src = run.source
    path = video or src["path"]
    if not Path(path).exists():
        raise VideoError(f"the source video {path} is gone; pass the clip the run was fitted to with --source")
    if file_hash(path) != src["sha256"]:
        raise VideoError(
            f"{path} is not the video {run.path} was fitted to ({src['name']}, sha256 {src['sha256'][:12]}…)"
        )
    store, _ = load_source(FitConfig(video=path, start=src["start"], end=src["end"], size=tuple(src["size"])), device)
    return store


class Compressor:
    """One compression of a run folder; see the module docstring."""

    def __init__(
        self,
        run_path: str | Path,
        output: str | Path,
        options: CompressOptions,
        source: str | None = None,
        reference: FrameStore | None = None,
    ) -> None:
        """``reference``: the run's source frames, when the caller has them already (see ``source_reference``)."""
        options.validate()
        self.folder = open_run(run_path)
        self.output = Path(output)
        self.options = options
        self.source = source
        self.device = resolve_device(options.device)
        self.reference = reference
        self._cancel = threading.Event()
        self._fitter: Fitter | None = None

    def cancel(self) -> None:
        self._cancel.set()
        if self._fitter is not None:
            self._fitter.cancel()

    def _weights_digest(self) -> str:
        """sha256 of the run's weights as stored (final weights, else the last checkpoint)."""
        path = self.folder.path / WEIGHTS
        if not path.is_file():
            path = self.folder.path / CHECKPOINT
        return file_hash(path)

    def _prunable(self) -> list[str]:
        spec = self.folder.model_spec
        with torch.device("meta"):
            return architectures.architecture(spec.arch)[1].prunable(architectures.build(spec))

    def _finetune(
        self,
        state: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor],
        bits: dict[str, int],
        opt: CompressOptions,
    ) -> Generator[FitEvent, None, dict[str, torch.Tensor] | None]:
        """Fine-tune in RUN/compress/<key>/ (resuming an interrupted one) with ``opt``'s prune ratio, epochs and
        bits; yields its events and returns the float32 weights (None when cancelled: the checkpoint is kept, a
        rerun resumes)."""
        folder = self.folder.path / "compress" / opt.finetune_key(self._weights_digest(), bits)
        if (folder / "model.safetensors").is_file():
            return {k: v.float() for k, v in load_weights(folder / "model.safetensors").items()}
        resume = (folder / "config.json").is_file()
        epochs = opt.finetune_epochs
        config = dataclasses.replace(
            self.folder.fit_config,
            video=self.source or self.folder.source["path"],
            epochs=epochs,
            eval_every=epochs,
            checkpoint_every=max(1, epochs // 10),
            device=opt.device,
        )
        fitter = Fitter(config, folder, resume=resume, init_state=state, masks=masks)
        if opt.qat:
            enable_fake_quant(fitter.model, bits, opt.per_channel, masks)
        self._fitter = fitter
        if self._cancel.is_set():  # cancelled before the fitter existed: it stops at once, with a checkpoint
            fitter.cancel()
        finished = None
        try:
            for ev in fitter.run():
                yield ev
                if isinstance(ev, Finished):
                    finished = ev
        finally:
            fitter.store.close()
            self._fitter = None
        if finished is None or finished.status != "completed":
            return None
        return {k: v.float() for k, v in load_weights(folder / "model.safetensors").items()}

    def run(self) -> Iterator[Event]:
        opt = self.options
        run, cfg = self.folder, self.folder.model_spec
        if opt.layer_bits and cfg.arch != NERV:
            raise ConfigError(f"per-layer bit widths are implemented for nerv models only, not {cfg.arch!r}")
        steps = run.quant_steps()
        if opt.step_search and steps is None:
            raise ConfigError(
                f"--step-search searches the learned steps of a rate-aware fit (fit --qat --rate-lambda); "
                f"{run.path} is a plain fit: compress it without --step-search"
            )
        reference = self.reference
        if reference is None and (opt.evaluate or opt.layer_bits or opt.target or opt.step_search):
            reference = source_reference(run, self.source, self.device)
        original = {k: v.float() for k, v in run.state_dict().items()}
        fields: dict[str, Any] = dict(
            video=video_record(run),
            activation=activation_ref(run),
            coder=opt.coder,
            mask_model=opt.mask_model,
            source={"name": run.source["name"], "sha256": run.source["sha256"]},
        )
        note, made = "", dict[str, Any]()  # the step search's report line and header record
        if opt.step_search:
            assert steps is not None and reference is not None  # refused above without steps; loaded above
            try:
                steps, note, made = yield from self._step_search(original, fields, steps, reference)
            except Cancelled:  # stopped mid-search: nothing written
                return
        if opt.target is not None:
            assert reference is not None  # loaded above when a target is set
            with contextlib.suppress(Cancelled):  # stopped mid-search: nothing written, as a cancelled fine-tune
                yield from self._targeted(opt.target, original, fields, steps, reference, note, made)
            return
        if steps is not None:  # a rate-aware fit: the file holds exactly what training saw
            yield Stage(
                "quantize",
                f"the learned steps of the rate-aware fit, {opt.coder} coding (pruning and fine-tuning do not apply)",
            )
            t0 = time.perf_counter()
            nf = pack_learned(
                original,
                cfg,
                steps,
                **fields,
                compression={"learned_steps": True, "from_run": run.path.name, **made},
            )
            encode(nf)
            yield from self._finish(nf, reference, time.perf_counter() - t0, 0.0, note)
            return
        yield Stage("prune", f"{opt.prune:.0%} of the stem and block weights (global magnitude)")
        masks = global_magnitude_masks({k: original[k] for k in self._prunable()}, opt.prune) if opt.prune else {}
        state = {k: v * masks[k] if k in masks else v for k, v in original.items()}
        bits = dict.fromkeys(state, opt.bits)
        if opt.layer_bits and opt.qat:  # QAT trains at the widths the file will hold: choose them first
            yield Stage("allocate", f"per-layer bit widths at the quality of uniform {opt.bits} bits")
            assert reference is not None  # loaded above when layer_bits is on
            bits = allocate_bits(run.model_config, state, masks, opt.bits, opt.per_channel, reference, self.device)
        finetune_seconds = 0.0
        if opt.finetune_epochs and (opt.prune or opt.qat):
            yield Stage(
                "finetune",
                f"{opt.finetune_epochs} epochs with the mask fixed"
                + (f", {opt.bits}-bit fake quantization" if opt.qat else ""),
            )
            t0 = time.perf_counter()
            tuned = yield from self._finetune(state, masks, bits, opt)
            finetune_seconds = time.perf_counter() - t0
            if tuned is None:
                return
            state = tuned
        if self._cancel.is_set():
            return
        if opt.layer_bits and not opt.qat:
            yield Stage("allocate", f"per-layer bit widths at the quality of uniform {opt.bits} bits")
            assert reference is not None  # loaded above when layer_bits is on
            bits = allocate_bits(run.model_config, state, masks, opt.bits, opt.per_channel, reference, self.device)
        yield Stage(
            "quantize", f"{opt.bits} bits {'per channel' if opt.per_channel else 'per tensor'}, {opt.coder} coding"
        )
        t0 = time.perf_counter()
        nf = pack_model(
            state,
            cfg,
            bits,
            opt.per_channel,
            masks,
            **fields,
            compression={
                "prune_ratio": opt.prune,
                "finetune_epochs": opt.finetune_epochs,
                "bits": opt.bits,
                "per_channel": opt.per_channel,
                "qat": opt.qat,
                "layer_bits": opt.layer_bits,
                "sparsity": sparsity(masks) if masks else 0.0,
                "from_run": run.path.name,
            },
        )
        encode(nf)  # time the coding itself; the metrics added below change only the header
        yield from self._finish(nf, reference, time.perf_counter() - t0, finetune_seconds)

    def _finish(
        self,
        nf: NervFile,
        reference: FrameStore | None,
        encode_seconds: float,
        finetune_seconds: float,
        step_search: str = "",
    ) -> Iterator[Event]:
        nf.story = self._story()
        if self.options.evaluate:
            assert reference is not None  # loaded in run() when evaluate is on
            yield from self._evaluate(nf, reference)
        yield Stage("write", str(self.output))
        sizes = save(nf, self.output)
        report = compressed_report(nf, sizes, str(self.output), encode_seconds, finetune_seconds)
        yield dataclasses.replace(report, step_search=step_search)

    def _step_search(
        self, original: dict[str, torch.Tensor], fields: dict[str, Any], steps: dict[str, float], reference: FrameStore
    ) -> Generator[Stage, None, tuple[dict[str, float], str, dict[str, Any]]]:
        """The learned ``steps`` searched in powers of two (:mod:`.stepsearch`): the steps to write, the report's
        line, and what the header's ``compression`` records (nothing when no step changed: the file is then
        byte for byte the one a compress without the search writes)."""
        fit = self.folder.fit_config
        lam = fit.rate_lambda if self.options.step_search_lambda is None else self.options.step_search_lambda
        if not lam:
            return (
                steps,
                "step search: skipped: the run was fitted without a rate term (λ 0), so a finer step "
                "always wins; give --step-search-lambda to trade at a λ of your own",
                {},
            )
        nf = pack_learned(original, self.folder.model_spec, steps, **fields)
        decodes, frames = decode_bound(nf)
        yield Stage(
            "step search",
            f"powers of two around the learned steps at λ {lam:g}: at most {decodes} decodes of {frames} frames",
        )
        loss_id = resolve_recipe(fit).loss  # a run's record holds it; the recipe's for one that might not
        assert loss_id is not None
        loss = get_registry().create("loss", loss_id, fit.loss_params)
        found = search_steps(nf, original, reference, loss, lam, self.device, self._cancel.is_set)
        made = {"step_search_lambda": lam} if found.shifts else {}  # the steps themselves are in the file
        return found.steps, found.describe(), made

    def _story(self) -> Story:
        return Story(curves=run_curves(self.folder.path), recipe=recipe(self.folder.fit_config))

    def _evaluate(self, nf: NervFile, reference: FrameStore) -> Iterator[Stage]:
        """Measure ``nf`` on every frame into its metrics and story."""
        yield Stage("evaluate", "decoding and comparing with the source and the uncompressed model")
        nf.metrics, per_frame = file_metrics(nf, reference, self.folder.build_model(self.device), self.device)
        nf.story.frame_psnr = frame_values(per_frame)

    # --- rate control ---------------------------------------------------------------------------------------
    def _targeted(
        self,
        target: Target,
        original: dict[str, torch.Tensor],
        fields: dict[str, Any],
        steps: dict[str, float] | None,
        reference: FrameStore,
        step_search: str = "",
        made: dict[str, Any] | None = None,
    ) -> Iterator[Event]:
        """Search the setting that meets ``target`` (see :mod:`.ratecontrol`), fine-tune once at its pruning ratio
        where that applies, search the widths and steps again on the tuned weights, check the file on every
        frame (searching again with the margin seen where the check fails), then write it."""
        opt, cfg = self.options, self.folder.model_spec
        pixels = int(fields["video"]["num_frames"]) * cfg.height * cfg.width
        fields = {**fields, "story": self._story()}
        prunable = self._prunable()
        probe = SearchProbe(reference, self.device)
        fixed_bits = opt.bits if "bits" in opt.fixed else None
        fixed_prune = opt.prune if "prune" in opt.fixed else None
        what = "the learned steps' scale" if steps is not None else "bit widths, pruning ratios and steps"
        yield Stage("search", f"{target.label()}: {what}, on {probe.count} frames, no refit")
        t0 = time.perf_counter()
        state, finetuned = original, 0

        def search_over(curves: list[list[Any]]) -> RateSearch:
            def pack(s: Setting) -> NervFile:
                if self._cancel.is_set():
                    raise Cancelled("rate control stopped")
                return self._pack(state, s, fields, steps, prunable, finetuned, made or {})

            return RateSearch(curves, lambda s: _coded_bytes(pack, s), lambda s: probe.psnr(pack, s))

        search = search_over(families(fixed_bits, fixed_prune, steps is not None))
        trial = search.run(target, pixels)
        trials, finetune_seconds = 0, 0.0
        chosen = trial.setting
        if chosen.bits is not None and opt.finetune_epochs and (chosen.prune or opt.qat):
            searched = time.perf_counter() - t0
            yield Stage(
                "finetune",
                f"{opt.finetune_epochs} epochs at the chosen {chosen.prune:.1%} pruning, mask fixed"
                + (f", {chosen.bits}-bit fake quantization" if opt.qat else ""),
            )
            masks = global_magnitude_masks({k: original[k] for k in prunable}, chosen.prune) if chosen.prune else {}
            pruned = {k: v * masks[k] if k in masks else v for k, v in original.items()}
            t1 = time.perf_counter()
            tuned_opt = dataclasses.replace(opt, prune=chosen.prune, bits=chosen.bits)
            tuned = yield from self._finetune(pruned, masks, dict.fromkeys(pruned, chosen.bits), tuned_opt)
            finetune_seconds = time.perf_counter() - t1
            if tuned is None:
                return
            state, finetuned = tuned, opt.finetune_epochs
            yield Stage("search", f"again on the fine-tuned weights, {chosen.prune:.1%} pruning kept")
            t0 = time.perf_counter() - searched
            trials += search.trials
            search = search_over(families(fixed_bits, chosen.prune))
            trial = search.run(target, pixels)
        if self._cancel.is_set():
            return
        label, cap, goal = f"requested {target.label()}", target.cap(pixels), target.value
        part = self.output.with_name(self.output.name + ".part")  # the file as written, checked before it is kept
        try:
            for _ in range(4):
                nf = self._pack(state, trial.setting, fields, steps, prunable, finetuned, made or {})
                nf.story = dataclasses.replace(fields["story"])
                nf.compression["target"] = target.label()
                if opt.evaluate or cap is None:
                    yield from self._evaluate(nf, reference)
                t1 = time.perf_counter()
                sizes = save(nf, part)
                encode_seconds, size = time.perf_counter() - t1, sum(sizes.values())
                if cap is not None and not (1 - WINDOW) * cap <= size <= cap:
                    trial = search.cap(trial.bytes - (size - cap), label)  # the header's numbers: size - trial.bytes
                elif cap is None and (nf.metrics["psnr"] or 0.0) < target.value:
                    goal += (trial.psnr or goal) - (nf.metrics["psnr"] or 0.0) + 0.01  # search frames vs every frame
                    trial = search.reach(goal, label)
                else:
                    break
            else:
                raise TargetUnreachable(f"{label}: no file met it after four searches; nothing written")
            yield Stage("write", str(self.output))
            os.replace(part, self.output)
        finally:
            part.unlink(missing_ok=True)
        trials += search.trials
        report = compressed_report(nf, sizes, str(self.output), encode_seconds, finetune_seconds)
        yield dataclasses.replace(
            report,
            target=target,
            setting=trial.setting.describe(),
            search_seconds=time.perf_counter() - t0,
            search_trials=trials,
            step_search=step_search,
        )

    def _pack(
        self,
        state: dict[str, torch.Tensor],
        setting: Setting,
        fields: dict[str, Any],
        steps: dict[str, float] | None,
        prunable: list[str],
        finetune_epochs: int,
        searched: dict[str, Any],
    ) -> NervFile:
        """The file of ``state`` written at ``setting`` (``searched``: what the step search records)."""
        made: dict[str, Any] = {"from_run": self.folder.path.name, **searched}
        if setting.bits is None:
            assert steps is not None  # learned-step settings come from a rate-aware fit
            scale = 2.0**setting.knob
            made.update(learned_steps=True, step_scale=scale)
            return pack_learned(
                state, self.folder.model_spec, {k: v * scale for k, v in steps.items()}, **fields, compression=made
            )
        masks = global_magnitude_masks({k: state[k] for k in prunable}, setting.prune) if setting.prune else {}
        pruned = {k: v * masks[k] if k in masks else v for k, v in state.items()}
        made.update(
            prune_ratio=setting.prune,
            finetune_epochs=finetune_epochs,
            bits=setting.bits,
            per_channel=self.options.per_channel,
            qat=self.options.qat,
            layer_bits=False,
            sparsity=sparsity(masks) if masks else 0.0,
            spread=2.0**setting.knob,
        )
        return pack_model(
            pruned,
            self.folder.model_spec,
            dict.fromkeys(pruned, setting.bits),
            self.options.per_channel,
            masks,
            2.0**setting.knob,
            **fields,
            compression=made,
        )


def _coded_bytes(pack: Callable[[Setting], NervFile], setting: Setting) -> int | None:
    """The exact size of the file at ``setting``; None where it cannot be written (a step out of range)."""
    try:
        return len(encode(pack(setting))[0])
    except ValueError:
        return None
