"""Data-parallel fits under torchrun (2 Gloo processes on the CPU) against one process with the same global batch."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nervplayer.errors import ConfigError
from nervplayer.train.distributed import World, check_batches, grads_in_param_layout, shard

TINY = ["--preset", "nerv-xs", "--model", "stem_dim=32", "--model", "fc_c=4", "--model", "lower_width=4"]
COMMON = ["--precision", "fp32", "--device", "cpu", "--seed", "3", "--lr", "2e-3", "--eval-every", "1"]


def fit(processes: int, clip: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", "-m"]
        if processes > 1
        else [sys.executable, "-m"]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [*launcher, "nervplayer", "fit", *([str(clip)] if clip else []), "-o", str(out), *TINY, *COMMON, *options]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=2e-5, msg=k)


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*"))


def test_two_processes_train_the_weights_of_one_with_the_same_global_batch(shapes_clip, tmp_path):
    # 15 frames in global batches of 6: 6, 6, 3, so the last batch is split 2 + 1 and weighed by share
    opts = ["--epochs", "2", "--batch-size", "6", "--frames", "0:15"]
    one, two = tmp_path / "one", tmp_path / "two"
    fit(1, shapes_clip, one, *opts)
    proc = fit(2, shapes_clip, two, *opts)  # fp32 on a CPU: channels-last weights
    # the run says two processes trained it, and DDP has nothing to warn about
    assert "2 processes (torchrun)" in proc.stderr.splitlines()[0]
    assert "broadcast_buffers" not in proc.stderr and "strides do not match" not in proc.stderr, proc.stderr
    assert [json.loads((run / "config.json").read_text())["world_size"] for run in (one, two)] == [1, 2]
    before = load_file(one / "model.safetensors")
    assert_same_weights(one, two)
    assert files(one) == files(two)  # the run folder has the same form: rank 0 wrote it alone
    rows_one, rows_two = metrics(one), metrics(two)
    assert len(rows_one) == len(rows_two) == 2
    for a, b in zip(rows_one, rows_two):  # the logged loss and the evaluation are the global batch's, not rank 0's
        for key in ("loss", "psnr", "ms_ssim"):
            assert float(b[key]) == pytest.approx(float(a[key]), rel=2e-5), key
    assert any(v.abs().sum() > 0 for v in before.values())


def test_resume_with_another_number_of_processes(shapes_clip, tmp_path):
    opts = ["--batch-size", "4", "--scheduler", "constant"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    fit(1, shapes_clip, straight, "--epochs", "2", *opts)
    fit(2, shapes_clip, split, "--epochs", "1", *opts)  # 2 processes for the first epoch ...
    fit(1, None, split, "--resume", "--epochs", "2")  # ... then one process for the second
    assert_same_weights(straight, split)
    back = tmp_path / "back"
    fit(1, shapes_clip, back, "--epochs", "1", *opts)  # and one process, then two
    fit(2, None, back, "--resume", "--epochs", "2")
    assert_same_weights(straight, back)


@pytest.mark.parametrize("arch", ["nerv", "hnerv", "grid"])
def test_gradients_arrive_in_the_layout_of_their_channels_last_weights(arch):
    import nervplayer

    model = nervplayer.create_model(arch, 64, 64, 8, **({} if arch == "nerv" else {"params": 40_000}))
    model = model.to(memory_format=torch.channels_last)
    grads_in_param_layout(model)
    frames = torch.rand(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    kwargs = {"frames": frames} if getattr(model, "content_adaptive", False) else {}
    model(torch.tensor([0.1, 0.5]), **kwargs).float().mean().backward()
    mismatched = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.stride() != p.stride()]
    assert mismatched == []  # NeRV's 1x1 head had [C, 1, 1, 1] gradients for [C, 1, C, C] weights


def test_global_batch_is_split_across_processes():
    order = list(range(10))
    assert shard(order, 4, World(0, 2, 0)) == [0, 2, 4, 6, 8]
    assert shard(order, 4, World(1, 2, 1)) == [1, 3, 5, 7, 9]
    assert shard(order, 4, World(0, 1, 0)) == order


@pytest.mark.parametrize(
    ("frames", "batch", "size", "message"),
    [(16, 3, 2, "multiple of the 2 processes"), (17, 4, 2, "fewer than the 2 processes")],
)
def test_batches_that_leave_a_process_without_frames_are_refused(frames, batch, size, message):
    with pytest.raises(ConfigError, match=message):
        check_batches(frames, batch, World(0, size, 0))
    check_batches(frames, batch, World())  # one process takes any batch


def _gather_share(rank: int, port: int, out: str) -> None:
    import numpy as np
    import torch.distributed as dist

    from nervplayer.train.distributed import frame_share, gather_metrics
    from nervplayer.train.evaluate import FrameMetrics

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    world = World(rank, 2, rank)
    share = frame_share(5, world)
    mine = FrameMetrics(np.array([10 + i for i in share], np.float32), np.array([i / 8 for i in share], np.float32))
    whole = gather_metrics(mine, 5, world, torch.device("cpu"))
    torch.save({"share": share, "psnr": whole.psnr.tolist(), "ms_ssim": whole.ms_ssim.tolist()}, f"{out}.{rank}")
    dist.destroy_process_group()


def test_each_process_scores_its_share_of_the_frames_and_every_one_gets_the_whole_clip(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_gather_share, args=(port, str(tmp_path / "out")), nprocs=2)
    results = [torch.load(tmp_path / f"out.{rank}") for rank in range(2)]
    assert [r["share"] for r in results] == [[0, 2, 4], [1, 3]]
    for r in results:  # in frame order, in every process
        assert r["psnr"] == [10, 11, 12, 13, 14] and r["ms_ssim"] == [i / 8 for i in range(5)]
