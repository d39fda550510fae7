"""The fit's optimiser: Adam on every parameter (``--optimizer adam``, the default), or SOAP on the network's
weight matrices and kernels with Adam on the rest (``--optimizer soap``: Cool-chic 5.0's recipe).

SOAP (Adam run in the eigenbasis of a Shampoo preconditioner) comes from the optional ``pytorch_optimizer``
package (``pip install 'nervplayer[soap]'``), imported only by a SOAP fit: it builds a ``torch.optim.Optimizer``,
which imports ``torch._dynamo`` (train/adam.py). Latents (a grid's levels, stored embeddings), biases and other
1-D parameters, and the learned quantization steps of ``--qat`` stay with Adam, in their groups of
:meth:`FitNetwork.param_groups <nervplayer.train.network.FitNetwork.param_groups>`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch

from ..errors import ConfigError
from .adam import Adam
from .network import FitNetwork

BETAS, EPS = (0.5, 0.999), 1e-8  # the fit's Adam (NeRV's recipe)
# SOAP: the package's betas and preconditioner update interval; no weight decay (the fit has none); a dimension
# over MAX_PRECONDITION is left unpreconditioned (its eigendecomposition would cost more than the steps it saves)
SOAP_BETAS, SOAP_EVERY, MAX_PRECONDITION = (0.95, 0.95), 10, 1024
SOAP_HINT = "--optimizer soap needs the pytorch_optimizer package: pip install 'nervplayer[soap]'"


class FitOptimizer(Protocol):
    """What a fit needs of its optimiser (``torch.optim.Optimizer``'s methods of the same names)."""

    @property
    def param_groups(self) -> list[dict[str, Any]]: ...

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, saved: dict[str, Any]) -> None: ...


def soap_class() -> Callable[..., torch.optim.Optimizer]:
    """``pytorch_optimizer.SOAP``, or a :class:`ConfigError` naming the extra that installs it."""
    try:
        from pytorch_optimizer import SOAP
    except ImportError:
        raise ConfigError(SOAP_HINT) from None
    soap: Callable[..., torch.optim.Optimizer] = SOAP
    return soap


class SoapAdam:
    """SOAP on ``weights``' parameters, Adam on ``rest``'s; one optimiser to the fit (groups, steps, state)."""

    def __init__(self, soap: torch.optim.Optimizer, adam: Adam) -> None:
        self.soap, self.adam = soap, adam

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [*self.soap.param_groups, *self.adam.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.soap.zero_grad(set_to_none)
        self.adam.zero_grad(set_to_none)

    def step(self) -> None:
        self.soap.step()
        self.adam.step()

    def state_dict(self) -> dict[str, Any]:
        return {"soap": self.soap.state_dict(), "adam": self.adam.state_dict()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        if set(saved) != {"soap", "adam"}:
            raise ValueError("the saved optimizer state is not a SOAP fit's")
        self.soap.load_state_dict(saved["soap"])
        self.adam.load_state_dict(saved["adam"])


def build_optimizer(name: str, network: FitNetwork, lr: float, fused: bool) -> FitOptimizer:
    """The optimiser ``name`` (:data:`~nervplayer.train.config.OPTIMIZERS`) over ``network``'s parameter groups."""
    groups = network.param_groups(lr)
    if name == "adam":
        return Adam(groups, lr, BETAS, EPS, fused=fused)
    soap = soap_class()
    matrices = {
        id(p) for n, p in network.model.named_parameters() if p.ndim >= 2 and network.stored.get(n) != "latents"
    }
    model, *others = groups  # the model's parameters, then the learned steps at their own rate
    weights = [p for p in model["params"] if id(p) in matrices]
    rest = [p for p in model["params"] if id(p) not in matrices]
    return SoapAdam(
        soap(
            [{"params": weights}],
            lr=lr,
            betas=SOAP_BETAS,
            weight_decay=0.0,
            precondition_frequency=SOAP_EVERY,
            max_precondition_dim=MAX_PRECONDITION,
            eps=EPS,
        ),
        Adam([{"params": rest}, *others], lr, BETAS, EPS, fused=fused),
    )
