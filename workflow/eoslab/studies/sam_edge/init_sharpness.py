"""``|λ₁|`` of the Hessian at initialisation, and ``η·|λ₁|`` for a config's η grid (docs/sam_edge.md).

Gradient descent on a quadratic is stable for ``η·λ₁ < 2``; a grid whose ``η·λ₁(0)`` is far below 2
needs a long progressive sharpening before GD reaches its edge (the paper's regime: "if the
learning rate is large enough", Fig. 2), one far above 2 catapults or diverges at once.  The
number depends on the loss's normalisation (here the mean over the 10 outputs of the squared error)
and on the input scale, which is why it is worth printing for the paper config's η grid.

MNIST and CIFAR-10 are not on this machine, so besides the config's own data this computes the
paper's networks (MLP depth 4 × 1,000; CNN 16/32 channels) on *proxies* at the paper's input
sizes: the 8×8 digits upsampled (bilinear) to 28×28 (MLP) or 32×32×3 (CNN, grey replicated).  The
ReLU MLP with zero biases is positively homogeneous in its input, so its Gauss–Newton part scales
with ``E‖x − μ‖²``; the proxy is therefore also evaluated with its pixels rescaled so that
``E‖x − μ‖²`` spans the range that MNIST's published pixel mean 0.1307 and std 0.3081 allow for
the centred images (``E‖x − μ‖² = 784 (σ² + m²) − ‖μ‖²`` with ``(784 m)²/784 ≤ ‖μ‖² ≤ max μ_p · 784 m``,
``max μ_p ≤ 0.55``: 32–74).  The CNN normalises every block (LayerNorm), so its input scale drops out.

    python -m eoslab.studies.sam_edge.init_sharpness --samples 500 [--parts cpu_mlp proxy_mlp_high …]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from ...convnet import build_convnet
from ...criteria import MeanSquaredError
from ...curvature import HessianOperator
from ...eigensolvers import top_eigenpairs
from ...models import build_model
from .data import load_images

PARTS = ("cpu_mlp", "digits_mlp", "proxy_mlp", "proxy_mlp_low", "proxy_mlp_high", "cpu_cnn", "proxy_cnn")
PAPER_LRS = {"mlp": [0.03, 0.1, 0.3], "cnn": [0.0003, 0.001, 0.003, 0.01]}
CPU_LRS = {"mlp": [0.3, 1.0, 2.0], "cnn": [0.01, 0.03, 0.1]}
#: E‖x − μ‖² of centred MNIST (pixels in [0, 1]) allowed by its published mean 0.1307 and std 0.3081.
MNIST_CENTRED_SQ_NORM = (784 * (0.3081 ** 2 + 0.1307 ** 2) - 0.55 * 784 * 0.1307,
                         784 * (0.3081 ** 2 + 0.1307 ** 2) - 784 * 0.1307 ** 2)


def top_eigenvalue(model, X: torch.Tensor, y: torch.Tensor, seed: int = 0) -> float:
    operator = HessianOperator(model, MeanSquaredError(), X, y, chunk_size=250)
    result = top_eigenpairs(operator, 1, tol=1e-3, max_iterations=100, method="krylov", order="magnitude",
                            generator=torch.Generator().manual_seed(seed))
    return float(abs(result.eigenvalues[0]))


def _digits(samples: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_images("sklearn_digits", "resources", False)
    return images[:samples].astype(np.float64) / 255.0, labels[:samples]


def _upsample(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    up = F.interpolate(torch.as_tensor(images), size=(size, size), mode="bilinear", align_corners=False).numpy()
    return np.repeat(up, channels, axis=1)


def _centred(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(images.shape[0], -1)
    return flat - flat.mean(axis=0)


def mlp(X: np.ndarray, labels: np.ndarray, width: int, depth: int = 4) -> float:
    Xt = torch.as_tensor(X, dtype=torch.float64)
    model = build_model({"input_dim": X.shape[1], "output_dim": 10, "depth": depth, "width": width,
                         "activation": "relu", "init": "glorot-normal", "init_seed": 0, "dtype": "float64"},
                        torch.device("cpu"))
    return top_eigenvalue(model, Xt, torch.as_tensor(labels))


def cnn(images: np.ndarray, labels: np.ndarray, channels=(16, 32)) -> float:
    X = _centred(images).reshape(images.shape)
    model = build_convnet({"architecture": "convnet", "input_shape": list(images.shape[1:]), "output_dim": 10,
                           "channels": list(channels), "kernel_size": 3, "init_seed": 0, "dtype": "float64"},
                          torch.device("cpu"))
    return top_eigenvalue(model, torch.as_tensor(X.reshape(X.shape[0], -1)), torch.as_tensor(labels))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS,
                        help="which networks: the CPU config's MLP/CNN on the digits, the paper's MLP on the digits "
                             "and on the 28×28 proxy at its own scale / MNIST's lower / upper E‖x − μ‖², the paper's "
                             "CNN on the 32×32×3 proxy")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    images, labels = _digits(args.samples)
    rows = []

    def report(what, value, lrs, seconds, **extra):
        row = {"what": what, "lambda1": value, "eta_lambda1": {f"{lr:g}": lr * value for lr in lrs},
               "seconds": round(seconds, 1), **extra}
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)

    digits = _centred(images)
    digits_sq = float((digits ** 2).sum(1).mean())
    proxy = _centred(_upsample(images, 28, 1))
    proxy_sq = float((proxy ** 2).sum(1).mean())
    for part in args.parts:
        start = time.time()
        if part == "cpu_mlp":
            report("mlp 4 × 128, digits 8×8 (CPU config)", mlp(digits, labels, 128), CPU_LRS["mlp"],
                   time.time() - start, sq_norm=digits_sq, samples=args.samples)
        elif part == "digits_mlp":
            report("mlp 4 × 1000, digits 8×8", mlp(digits, labels, 1000), PAPER_LRS["mlp"], time.time() - start,
                   sq_norm=digits_sq, samples=args.samples)
        elif part.startswith("proxy_mlp"):
            target = {"proxy_mlp": None, "proxy_mlp_low": MNIST_CENTRED_SQ_NORM[0],
                      "proxy_mlp_high": MNIST_CENTRED_SQ_NORM[1]}[part]
            scale = 1.0 if target is None else float(np.sqrt(target / proxy_sq))
            label = "proxy as is" if target is None else f"rescaled to E‖x−μ‖² = {target:.1f}"
            report(f"mlp 4 × 1000 (paper), digits upsampled to 28×28, {label}", mlp(scale * proxy, labels, 1000),
                   PAPER_LRS["mlp"], time.time() - start, sq_norm=proxy_sq * scale ** 2, samples=args.samples)
        elif part == "cpu_cnn":
            report("cnn 16/32, digits 8×8 (CPU config)", cnn(images, labels), CPU_LRS["cnn"], time.time() - start,
                   samples=args.samples)
        else:
            report("cnn 16/32 (paper), digits upsampled to 32×32×3", cnn(_upsample(images, 32, 3), labels),
                   PAPER_LRS["cnn"], time.time() - start, samples=args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
