"""The fit's Adam: torch.optim.Adam's updates and checkpoints, without importing torch._dynamo."""

import subprocess
import sys

import pytest
import torch

from nervplayer.train.adam import Adam


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(7, 5, generator=g).requires_grad_(), torch.randn(3, generator=g).requires_grad_()]


def _train(opt, params: list[torch.Tensor], steps: range, lr: float = 1e-2) -> None:
    for k in steps:
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0) / (1 + k)  # a schedule, as the fit sets it each step
        opt.zero_grad(set_to_none=True)
        loss = sum(((p - 0.1 * k) ** 2).sum() for p in params)
        loss.backward()
        opt.step()


def _groups(params: list[torch.Tensor]) -> list[dict]:
    return [{"params": params[:1]}, {"params": params[1:], "lr_scale": 10.0}]


@pytest.mark.parametrize("fused", [True, False])
def test_updates_equal_torch_adam(fused):
    ours, theirs = _params(0), _params(0)
    a = Adam(_groups(ours), 1e-2, betas=(0.5, 0.999), eps=1e-8, fused=fused)
    kind = {"fused": True} if fused else {"foreach": True}
    b = torch.optim.Adam(_groups(theirs), lr=1e-2, betas=(0.5, 0.999), eps=1e-8, **kind)
    _train(a, ours, range(6))
    _train(b, theirs, range(6))
    for p, q in zip(ours, theirs):
        assert torch.equal(p, q)
    assert not torch.equal(ours[0], _params(0)[0])  # it did train


@pytest.mark.parametrize("direction", ["torch to ours", "ours to torch"])
def test_checkpoints_load_across_both_classes(direction):
    """A checkpoint written before this class (torch.optim.Adam's state) resumes, and the other way round: the
    resumed run equals a straight one."""
    straight = _params(1)
    _train(Adam(_groups(straight), 1e-2, fused=True), straight, range(8))

    def make(params, kind):
        if kind == "ours":
            return Adam(_groups(params), 1e-2, fused=True)
        return torch.optim.Adam(_groups(params), lr=1e-2, fused=True)

    first, second = direction.split(" to ")
    params = _params(1)
    before = make(params, first)
    _train(before, params, range(4))
    saved = before.state_dict()
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    after = make(resumed_params, second)
    after.load_state_dict(saved)
    _train(after, resumed_params, range(4, 8))
    for p, q in zip(resumed_params, straight):
        assert torch.allclose(p, q, atol=1e-6)
    assert [g.get("lr_scale", 1.0) for g in after.param_groups] == [1.0, 10.0]


def test_mismatched_state_is_refused():
    a = Adam([{"params": _params(2)}], 1e-2)
    with pytest.raises(ValueError, match="parameter groups"):
        a.load_state_dict(Adam(_groups(_params(2)), 1e-2).state_dict())


def test_a_fit_never_imports_dynamo(shapes_clip, tmp_path):
    """torch._dynamo costs ~2 s of every fit's start-up (torch.optim's optimizers import it)."""
    code = (
        "import sys\n"
        "from nervplayer.train import FitConfig, Fitter\n"
        f"cfg = FitConfig(video={str(shapes_clip)!r}, arch='nerv', preset='nerv-xs', epochs=1, device='cpu')\n"
        f"for ev in Fitter(cfg, {str(tmp_path / 'run')!r}).run(): pass\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
