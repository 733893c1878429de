"""eoslab: reproduce Lowell & Kastner (2024) and companion edge-of-stability studies.

For your own network (README, "Analyse your own network"):

* :func:`eoslab.decompose` — the paper's metrics (Eqs. 2–8) of an ``nn.Sequential`` MLP on ``(X, y)``
  as one tidy table (:mod:`eoslab.network`);
* :class:`eoslab.SharpnessMonitor` — the same every N steps of any training loop, written as the
  analysis stage's table (:mod:`eoslab.monitor`).

The numerical core is plain PyTorch with no Snakemake inside:

* :mod:`eoslab.models` — the paper's MLP and ``build_model``;
* :mod:`eoslab.adapters` — a user's ``nn.Sequential`` read as the layer list the decomposition needs;
* :mod:`eoslab.criteria` — cross-entropy and MSE with ``H_z l`` and its root ``R``;
* :mod:`eoslab.curvature` — matrix-free Hessian, ``G`` and ``H`` block products over a data set;
* :mod:`eoslab.eigensolvers` — top eigenpairs (LOBPCG) and the paper's power iteration;
* :mod:`eoslab.metrics`, :mod:`eoslab.decomposition` — the metrics of one set of weights, Eqs. 2–8;
* :mod:`eoslab.integrators` — exponential Euler (Supplement 7.2) and gradient descent steps;
* :mod:`eoslab.training` — the full-batch training loop with snapshots and resume;
* :mod:`eoslab.cli` — the ``eoslab`` command the workflow rules call.

``decompose``, ``SharpnessMonitor`` and ``UnsupportedModel`` are imported on first use, so that
``import eoslab`` (and the Snakefile's import of the figure catalogue) does not load torch.
"""

__version__ = "0.1.0"

__all__ = ["decompose", "SharpnessMonitor", "UnsupportedModel", "UnsupportedCriterion", "MetricSettings"]

_LAZY = {"decompose": "network", "UnsupportedCriterion": "network", "UnsupportedModel": "adapters",
         "SharpnessMonitor": "monitor", "MetricSettings": "metrics"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
