"""Shared fixtures: tiny float64 MLPs and data, with dense reference computations."""

from __future__ import annotations

import os

# The tests share small machines with other processes: one BLAS/OpenMP thread per process, for
# this one and for the eoslab subprocesses the tests start (they inherit the environment).  Set
# before numpy and torch start their thread pools; export a larger value to override.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.func import functional_call

from eoslab.arrays import save_arrays
from eoslab.criteria import get_criterion
from eoslab.curvature import ParameterSpace
from eoslab.models import ACTIVATIONS, build_model

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

ACTIVATION_NAMES = sorted(ACTIVATIONS)
CRITERION_NAMES = ["cross_entropy", "mse"]

#: Device of the engine tests (curvature, eigensolvers, integrators, decomposition, training):
#: ``pytest --device cuda`` runs them on a GPU (benchmarks/gpu_suite.sh); the default is the CPU.
TEST_DEVICE = torch.device("cpu")


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="torch device of the engine tests: cpu (default), cuda or cuda:N")


def pytest_configure(config):
    global TEST_DEVICE
    TEST_DEVICE = torch.device(config.getoption("--device"))
    if TEST_DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(f"--device {TEST_DEVICE} was asked for but torch sees no CUDA device")


@pytest.fixture
def device() -> torch.device:
    """The device chosen with ``pytest --device`` (default cpu)."""
    return TEST_DEVICE


class TinyProblem:
    """A tiny MLP with data and dense autograd references (Hessian, Jacobian, G)."""

    def __init__(self, activation="elu", criterion="cross_entropy", depth=3, width=5, n=17, d=4, o=3, seed=0,
                 device=None):
        gen = torch.Generator().manual_seed(seed)
        self.model = build_model({"input_dim": d, "output_dim": o, "depth": depth, "width": width,
                                  "activation": activation, "init_seed": seed})
        # Non-zero biases so every term of the Hessian is exercised.
        with torch.no_grad():
            for linear in self.model.linears:
                linear.bias.normal_(0, 0.3, generator=gen)
        self.X = torch.randn(n, d, dtype=torch.float64, generator=gen)
        self.y = torch.randint(0, o, (n,), generator=gen)
        # Drawn on the CPU (same numbers everywhere), then moved to the test device.
        device = TEST_DEVICE if device is None else torch.device(device)
        self.model, self.X, self.y = self.model.to(device), self.X.to(device), self.y.to(device)
        self.criterion = get_criterion(criterion)
        self.space = ParameterSpace(self.model)
        self.theta = self.space.flatten(self.space.values(self.model))

    def outputs(self, theta):
        return functional_call(self.model, self.space.unflatten(theta), (self.X,))

    def loss(self, theta):
        return self.criterion.loss(self.outputs(theta), self.y).mean()

    def dense_hessian(self):
        return torch.autograd.functional.hessian(self.loss, self.theta)

    def dense_jacobian(self):
        """∂f/∂θ per sample, shape (N, O, P)."""
        return torch.func.jacrev(self.outputs)(self.theta)

    def dense_gauss_newton(self):
        J = self.dense_jacobian()
        Hz = self.criterion.output_hessian(self.outputs(self.theta).detach(), self.y)
        return torch.einsum("nop,noq,nqr->pr", J, Hz, J) / self.X.shape[0]


@pytest.fixture
def tiny_problem():
    return TinyProblem


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture
def blob_data(tmp_path):
    """A small separable 3-class data file for training tests."""
    def make(n=60, d=8, c=3, seed=0, name="blobs.npz"):
        rng = np.random.default_rng(seed)
        centers = rng.normal(size=(c, d)) * 2
        y = rng.integers(0, c, n)
        X = centers[y] + rng.normal(size=(n, d))
        path = tmp_path / name
        save_arrays(path, X, y, c)
        return path
    return make
