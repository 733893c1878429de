"""Synthetic linear regression data of the layerwise-sharpness thesis (§3.1.1).

The thesis generates ``n`` examples of dimension ``d``:

1. ``X`` (``n × d``) and ``V`` (``d × d``) with independent standard normal entries;
2. ``Y = X Vᵀ``;
3. noise: ``Y ← Y − E`` with ``E`` (``n × d``) standard normal.

So inputs and labels have the same dimension ``d`` — the point of the construction is that the
input and output layers of an MLP of width ``d`` are as wide as its hidden layers (§3, opening
paragraph).  The thesis leaves ``d`` to each experiment; the study sets ``d`` to the network's
width in Chapter 3 (10 for the 3-layer, 10-unit networks; the width itself in Figures 3.3–3.4)
and to 10 in Chapter 4, also while Figures 4.3/4.6 sweep the width (the reading under which they
show what the thesis says of them; ``eoslab.studies.layerwise_sharpness.maxstep``).

Determinism: everything is drawn in float64 on the CPU from one ``torch.Generator`` seeded by
``seed``, in the order ``X``, ``V``, ``E``, then cast; the same ``(n, d, seed)`` always gives the
same numbers, on any device and in any dtype.  ``noise_std`` scales ``E`` (1 in the thesis).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SyntheticRegression:
    """``X`` (n, d) inputs, ``Y`` (n, d) labels and the ground-truth ``V`` (d, d): ``Y = XVᵀ − E``."""

    X: torch.Tensor
    Y: torch.Tensor
    V: torch.Tensor
    seed: int
    noise_std: float

    @property
    def num_samples(self) -> int:
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        return self.X.shape[1]


def make_synthetic_regression(n: int, d: int, seed: int, *, noise_std: float = 1.0,
                              dtype: torch.dtype = torch.float64,
                              device: str | torch.device = "cpu") -> SyntheticRegression:
    """Draw the thesis's synthetic regression set (§3.1.1) with ``n`` examples of dimension ``d``."""
    for name, value in (("n", n), ("d", d), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"synthetic regression '{name}' must be an integer, got {value!r}")
    if n < 1 or d < 1:
        raise ValueError(f"synthetic regression needs n >= 1 examples and d >= 1 dimensions, got n={n}, d={d}")
    if seed < 0:
        raise ValueError(f"synthetic regression seed must be >= 0, got {seed}")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or noise_std < 0:
        raise ValueError(f"synthetic regression noise_std must be a number >= 0, got {noise_std!r}")
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=torch.float64, generator=generator)
    V = torch.randn(d, d, dtype=torch.float64, generator=generator)
    E = torch.randn(n, d, dtype=torch.float64, generator=generator)
    Y = X @ V.T - noise_std * E
    return SyntheticRegression(X=X.to(device=device, dtype=dtype), Y=Y.to(device=device, dtype=dtype),
                               V=V.to(device=device, dtype=dtype), seed=seed, noise_std=float(noise_std))
