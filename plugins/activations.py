"""Built-in activations. NeRV uses SiLU ("swish") everywhere."""

from __future__ import annotations

import torch
from torch import nn

from nervplayer.plugins.api import Param, Registrar


class Sine(nn.Module):
    """sin(ω·x), as in SIREN; ω = 1 keeps NeRV's default initialisation sensible."""

    def __init__(self, omega: float = 1.0) -> None:
        super().__init__()
        self.omega = omega

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * x)


def register(r: Registrar) -> None:
    r.activation("relu", lambda: nn.ReLU(inplace=False), description="max(0, x)")
    r.activation(
        "leaky_relu",
        lambda negative_slope: nn.LeakyReLU(negative_slope),
        description="max(0, x) + slope·min(0, x)",
        params=[Param("negative_slope", 0.01, "slope for x < 0", minimum=0.0, maximum=1.0)],
    )
    r.activation(
        "gelu",
        lambda approximate: nn.GELU(approximate=approximate),
        description="Gaussian error linear unit",
        params=[Param("approximate", "none", "exact or tanh approximation", choices=("none", "tanh"))],
    )
    r.activation("silu", lambda: nn.SiLU(), description="x·sigmoid(x), the paper's default", aliases=("swish",))
    r.activation(
        "softplus",
        lambda beta: nn.Softplus(beta=beta),
        description="log(1 + exp(β·x)) / β",
        params=[Param("beta", 1.0, "sharpness", minimum=1e-3)],
    )
    r.activation("hardswish", lambda: nn.Hardswish(), description="x·relu6(x + 3) / 6")
    r.activation(
        "sine",
        Sine,
        description="sin(ω·x) (SIREN-style periodic activation)",
        params=[Param("omega", 1.0, "frequency ω", minimum=1e-3)],
    )
