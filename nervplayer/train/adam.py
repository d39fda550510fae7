"""Adam for the fit: ``torch.optim.Adam``'s update and checkpoint format, without its start-up cost.

The first ``torch.optim.Optimizer`` a process builds imports ``torch._dynamo`` (about 2 s on this project's
CPUs, in every fit, every data-parallel process and the player's fit process), though an eager fit never
compiles. This class keeps the same parameter groups, per-parameter state (``step``, ``exp_avg``,
``exp_avg_sq``) and ``state_dict`` layout, and runs torch's own functional update (``torch.optim.adam.adam``:
the fused kernel on CPU and CUDA, the multi-tensor one elsewhere). Checkpoints load into either class.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

import torch
from torch.optim.adam import adam


class Adam:
    """Adam with ``betas``, ``eps`` and per-group ``lr`` (no weight decay, no AMSGrad: the fit's recipe).

    ``fused`` picks torch's one-kernel update (CUDA, and the CPU from torch 2.4); otherwise the multi-tensor one.
    A group may carry extra keys (``lr_scale``); they are kept and saved like torch's.
    """

    def __init__(
        self,
        groups: Iterable[dict[str, Any]],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        fused: bool = False,
    ) -> None:
        self.defaults: dict[str, Any] = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": 0.0, "fused": fused}
        self.param_groups: list[dict[str, Any]] = [{**self.defaults, **g, "params": list(g["params"])} for g in groups]
        self.state: defaultdict[torch.Tensor, dict[str, torch.Tensor]] = defaultdict(dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [self._state(p, group["fused"]) for p in params]
            beta1, beta2 = group["betas"]
            adam(
                params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [],
                [s["step"] for s in states],
                foreach=not group["fused"],
                fused=group["fused"],
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
            )

    def _state(self, p: torch.Tensor, fused: bool) -> dict[str, torch.Tensor]:
        state = self.state[p]
        if not state:  # as torch.optim.Adam: the step count on the parameter's device when fused, else on the CPU
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if fused else "cpu")
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters numbered in group order, state keyed by those numbers."""
        index: dict[torch.Tensor, int] = {}
        groups = []
        for group in self.param_groups:
            ids = [index.setdefault(p, len(index)) for p in group["params"]]
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        return {"state": {index[p]: dict(s) for p, s in self.state.items() if p in index}, "param_groups": groups}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Load a state saved by this class or by ``torch.optim.Adam`` (same groups, same parameter shapes)."""
        groups = saved["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(mine["params"]) for g, mine in zip(groups, self.param_groups)
        ):
            raise ValueError("the saved optimizer state does not match the model's parameter groups")
        owner = {
            i: (p, mine) for g, mine in zip(groups, self.param_groups) for i, p in zip(g["params"], mine["params"])
        }
        self.state = defaultdict(dict)
        for i, s in saved["state"].items():
            p, group = owner[int(i)]
            step = torch.as_tensor(s["step"], dtype=torch.float32)
            self.state[p] = {
                "step": step.to(p.device if group["fused"] else "cpu"),
                "exp_avg": s["exp_avg"].to(p.device, p.dtype),
                "exp_avg_sq": s["exp_avg_sq"].to(p.device, p.dtype),
            }
        for g, mine in zip(groups, self.param_groups):
            mine.update({k: v for k, v in g.items() if k in ("lr", "betas", "eps", "lr_scale")})
