"""Multi-layer perceptrons as the paper defines them (Section 2.1).

Indexing follows the paper with ``L`` linear layers: layer ``i`` (1-based) maps
``x^{i-1}`` to the pre-activation ``x̂^i = A^i x^{i-1} + b^i``; ``x^i = σ(x̂^i)`` for
``i < L`` and the network output is ``f = x̂^L``.  In code the layers are
``model.linears[i - 1]`` with parameters named ``linears.{i-1}.weight`` and
``linears.{i-1}.bias``.

Every model is rebuilt from a plain ``dict`` (stored with every snapshot) by
:func:`build_model`; the dict holds only JSON-compatible values so it also goes
into ``run.json`` and into ``torch.load(..., weights_only=True)`` files.

Initialisation ``"xavier"`` is Glorot's uniform rule scaled by a gain, as the
paper does ("Xavier initialization ... with the correction from the Kaiming
initialization to scale by the gain", √2 for ELU): every weight is drawn from
``U(-a, a)`` with ``a = gain · sqrt(6 / (fan_in + fan_out))`` and every bias is
zero.  The gain is applied to every layer, the output layer included.
``"torch-default"`` keeps PyTorch's ``nn.Linear`` initialisation.
``"glorot-normal"`` (Long & Bartlett 2023, §3.1, who used JAX) is JAX's
``glorot_normal``: a normal distribution truncated at two of its standard
deviations and rescaled so that every weight has variance
``gain² · 2 / (fan_in + fan_out)`` exactly (:func:`glorot_normal_`); biases zero.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "elu": nn.ELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
}

#: Default Xavier gain per activation. ELU uses √2 as in the paper (following
#: Clevert et al.); the others are ``torch.nn.init.calculate_gain``'s values.
DEFAULT_GAINS: dict[str, float] = {
    "elu": math.sqrt(2.0),
    "relu": math.sqrt(2.0),
    "tanh": 5.0 / 3.0,
    "sigmoid": 1.0,
    "linear": 1.0,
}

INITIALISATIONS = ("xavier", "torch-default", "glorot-normal")

DTYPES: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32}

MODEL_DEFAULTS: dict[str, Any] = {
    "depth": 6,
    "width": 512,
    "activation": "elu",
    "init": "xavier",
    "gain": None,  # None: DEFAULT_GAINS[activation]
    "init_seed": 0,
    "dtype": "float64",
}


class MLP(nn.Module):
    """Fully connected network with ``depth`` linear layers, each with a bias.

    ``widths`` lists the layer sizes ``n_0 (input), n_1, ..., n_L (output)``.
    """

    def __init__(self, widths: list[int], activation: str):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.widths = list(widths)
        self.activation_name = activation
        self.activation = ACTIVATIONS[activation]()
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=True) for a, b in zip(widths[:-1], widths[1:]))

    @property
    def depth(self) -> int:
        """``L``, the number of linear layers."""
        return len(self.linears)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear in self.linears[:-1]:
            x = self.activation(linear(x))
        return self.linears[-1](x)

    def layer_parameter_names(self, layer: int) -> list[str]:
        """Names of ``(A^i, b^i)`` for the paper's 1-based layer index ``i``."""
        if not 1 <= layer <= self.depth:
            raise ValueError(f"layer must be in 1..{self.depth}, got {layer}")
        return [f"linears.{layer - 1}.weight", f"linears.{layer - 1}.bias"]


def resolve_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into a model config and check every key's type and range.

    Returns a new dict with every key explicit (the gain resolved to a number),
    which is what snapshots and ``run.json`` store.
    """
    unknown = set(config) - set(MODEL_DEFAULTS) - {"input_dim", "output_dim"}
    if unknown:
        raise ValueError(f"unknown model config keys {sorted(unknown)}; expected a subset of "
                         f"{sorted(set(MODEL_DEFAULTS) | {'input_dim', 'output_dim'})}")
    resolved = {**MODEL_DEFAULTS, **config}
    for key in ("input_dim", "output_dim", "depth", "width", "init_seed"):
        value = resolved.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"model config '{key}' must be an integer, got {value!r}")
    for key in ("input_dim", "output_dim", "depth", "width"):
        if resolved[key] < 1:
            raise ValueError(f"model config '{key}' must be >= 1, got {resolved[key]}")
    if resolved["activation"] not in ACTIVATIONS:
        raise ValueError(f"model config 'activation' must be one of {sorted(ACTIVATIONS)}, "
                         f"got {resolved['activation']!r}")
    if resolved["init"] not in INITIALISATIONS:
        raise ValueError(f"model config 'init' must be one of {list(INITIALISATIONS)}, got {resolved['init']!r}")
    if resolved["dtype"] not in DTYPES:
        raise ValueError(f"model config 'dtype' must be one of {sorted(DTYPES)}, got {resolved['dtype']!r}")
    if resolved["gain"] is None:  # glorot-normal is JAX's rule, which has no gain (1)
        resolved["gain"] = 1.0 if resolved["init"] == "glorot-normal" else DEFAULT_GAINS[resolved["activation"]]
    if isinstance(resolved["gain"], bool) or not isinstance(resolved["gain"], (int, float)) or resolved["gain"] <= 0:
        raise ValueError(f"model config 'gain' must be a positive number, got {resolved['gain']!r}")
    resolved["gain"] = float(resolved["gain"])
    return resolved


def build_model(config: dict[str, Any], device: str | torch.device = "cpu") -> MLP:
    """Build (and deterministically initialise) the MLP described by ``config``.

    ``config`` needs ``input_dim`` and ``output_dim``; other keys default to the
    paper's network (:data:`MODEL_DEFAULTS`: depth 6, width 512, ELU, Xavier
    with gain √2, float64).  The same config always gives the same weights.
    """
    cfg = resolve_model_config(config)
    widths = [cfg["input_dim"]] + [cfg["width"]] * (cfg["depth"] - 1) + [cfg["output_dim"]]
    generator = torch.Generator().manual_seed(cfg["init_seed"])
    dtype = DTYPES[cfg["dtype"]]
    # Initialise on the CPU in float64 with our own generator so weights do not
    # depend on the device, the global RNG or the dtype's sampling path.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["init_seed"])
        model = MLP(widths, cfg["activation"]).to(torch.float64)
    if cfg["init"] == "xavier":
        with torch.no_grad():
            for linear in model.linears:
                fan_out, fan_in = linear.weight.shape
                bound = cfg["gain"] * math.sqrt(6.0 / (fan_in + fan_out))
                linear.weight.uniform_(-bound, bound, generator=generator)
                linear.bias.zero_()
    elif cfg["init"] == "glorot-normal":
        with torch.no_grad():
            for linear in model.linears:
                glorot_normal_(linear.weight, generator, cfg["gain"])
                linear.bias.zero_()
    return model.to(device=device, dtype=dtype)


#: Standard deviation of a standard normal truncated to [−2, 2] (JAX's truncated_normal correction).
TRUNCATED_NORMAL_STD = 0.87962566103423978


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a linear ``(out, in)`` or convolution ``(out, in, *kernel)`` weight."""
    if weight.ndim < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got shape {tuple(weight.shape)}")
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def glorot_normal_(weight: torch.Tensor, generator: torch.Generator, gain: float = 1.0) -> torch.Tensor:
    """Glorot-normal initialisation as JAX defines it (``jax.nn.initializers.glorot_normal``).

    ``w = σ z / 0.8796…`` with ``z`` standard normal truncated to ``[−2, 2]`` and
    ``σ = gain · sqrt(2 / (fan_in + fan_out))``, so ``Var w = σ²`` and ``|w| ≤ 2σ / 0.8796…``.
    Drawn in float64 from ``generator`` (on the CPU), then copied into ``weight``.
    """
    fan_in, fan_out = fans(weight)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    values = torch.empty(weight.shape, dtype=torch.float64)
    torch.nn.init.trunc_normal_(values, 0.0, 1.0, -2.0, 2.0, generator=generator)
    with torch.no_grad():
        weight.copy_(values * (std / TRUNCATED_NORMAL_STD))
    return weight


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
