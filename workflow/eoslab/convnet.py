"""The small convolutional network of Long & Bartlett (2023), §3.1 (their CIFAR-10 experiment).

Two blocks, each a convolution → ReLU → layer normalisation → 2×2 max pooling with stride 2,
with 16 and 32 channels, then a linear read-out to the classes.  The paper names only these
parts; where it is silent we follow Flax's defaults, the library it used (§3.3):

* convolutions are 3×3 with "SAME" padding (Flax's default padding) and a bias;
* the layer normalisation is Flax's ``nn.LayerNorm()`` applied to NHWC activations: it
  normalises over the *channels* at every spatial position, with a learnable scale and offset
  per channel and ``ε = 1e-6``;
* no hidden dense layer: the pooled ``32 × H/4 × W/4`` features go straight to the outputs;
* weights are Glorot-normal (:func:`eoslab.models.glorot_normal_`, the paper's initialisation;
  JAX's fans of a convolution kernel are ``channels × kernel area``), biases zero, layer-norm
  scales one and offsets zero.

Inputs are flat rows (``N × C·H·W``, channel-major, as :mod:`eoslab.arrays` stores images) and
are reshaped to ``(N, C, H, W)`` inside :meth:`ConvNet.forward`, so the curvature operators and
data files need nothing image-specific.  ``H`` and ``W`` must be divisible by 4 (two poolings).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .models import DTYPES, glorot_normal_

CONVNET_DEFAULTS: dict[str, Any] = {
    "architecture": "convnet",
    "input_shape": [3, 32, 32],
    "channels": [16, 32],
    "kernel_size": 3,
    "output_dim": 10,
    "layer_norm_eps": 1e-6,
    "init_seed": 0,
    "dtype": "float64",
}


class ChannelLayerNorm(nn.Module):
    """Layer normalisation over the channel axis of ``(N, C, H, W)``: Flax's LayerNorm on NHWC."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        variance = (x - mean).pow(2).mean(dim=1, keepdim=True)
        normalised = (x - mean) * torch.rsqrt(variance + self.eps)
        return normalised * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ConvNet(nn.Module):
    """``[conv → ReLU → LayerNorm → maxpool 2×2] × len(channels)`` then ``Linear`` (§3.1)."""

    def __init__(self, input_shape: list[int], channels: list[int], kernel_size: int, output_dim: int,
                 layer_norm_eps: float):
        super().__init__()
        c, h, w = input_shape
        scale = 2 ** len(channels)
        if h % scale or w % scale:
            raise ValueError(f"image height and width must be divisible by {scale} ({len(channels)} poolings), "
                             f"got {h}×{w}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (SAME padding), got {kernel_size}")
        self.input_shape = (c, h, w)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for out in channels:
            self.convs.append(nn.Conv2d(c, out, kernel_size, padding=kernel_size // 2))
            self.norms.append(ChannelLayerNorm(out, layer_norm_eps))
            c = out
        self.readout = nn.Linear(c * (h // scale) * (w // scale), output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.input_shape)
        for conv, norm in zip(self.convs, self.norms):
            x = F.max_pool2d(norm(F.relu(conv(x))), kernel_size=2, stride=2)
        return self.readout(x.flatten(start_dim=1))


def resolve_convnet_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every key checked (the dict stored with runs and snapshots)."""
    unknown = set(config) - set(CONVNET_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown convnet config keys {sorted(unknown)}; expected a subset of {sorted(CONVNET_DEFAULTS)}")
    resolved = {**CONVNET_DEFAULTS, **config}
    if resolved["architecture"] != "convnet":
        raise ValueError(f"convnet config 'architecture' must be 'convnet', got {resolved['architecture']!r}")
    shape, channels = resolved["input_shape"], resolved["channels"]
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
        raise ValueError(f"convnet config 'input_shape' must be [channels, height, width] of positive integers, "
                         f"got {shape!r}")
    if (not isinstance(channels, (list, tuple)) or not channels
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in channels)):
        raise ValueError(f"convnet config 'channels' must be a non-empty list of positive integers, got {channels!r}")
    for key in ("kernel_size", "output_dim", "init_seed"):
        value = resolved[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "init_seed" else 1):
            raise ValueError(f"convnet config '{key}' must be a {'non-negative' if key == 'init_seed' else 'positive'} "
                             f"integer, got {value!r}")
    if resolved["dtype"] not in DTYPES:
        raise ValueError(f"convnet config 'dtype' must be one of {sorted(DTYPES)}, got {resolved['dtype']!r}")
    resolved["input_shape"], resolved["channels"] = list(shape), list(channels)
    resolved["layer_norm_eps"] = float(resolved["layer_norm_eps"])
    return resolved


def build_convnet(config: dict[str, Any], device: str | torch.device = "cpu") -> ConvNet:
    """The network of ``config`` (see :data:`CONVNET_DEFAULTS`), Glorot-normal from ``init_seed``."""
    cfg = resolve_convnet_config(config)
    model = ConvNet(cfg["input_shape"], cfg["channels"], cfg["kernel_size"], cfg["output_dim"],
                    cfg["layer_norm_eps"]).to(torch.float64)
    generator = torch.Generator().manual_seed(cfg["init_seed"])
    with torch.no_grad():
        for layer in [*model.convs, model.readout]:
            glorot_normal_(layer.weight, generator)
            layer.bias.zero_()
    return model.to(device=device, dtype=DTYPES[cfg["dtype"]])
