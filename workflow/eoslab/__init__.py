"""eoslab: reproduce Lowell & Kastner (2024) and companion edge-of-stability studies.

A map of the package (docs/architecture.md has the whole picture):

* the **engine**, plain PyTorch with no Snakemake inside and no study imported — models
  (``models``, ``convnet``, ``transformer``), losses (``criteria``), matrix-free curvature
  (``curvature``, ``layerwise``), eigensolvers (``eigensolvers``), steps (``integrators``,
  ``optimizers``, ``sam``, ``step_sizes``), the flow trainer (``training``, ``rundir``,
  ``settings``), the paper's metrics of one set of weights (``metrics``, ``decomposition``; ``adapters``,
  ``network``, ``monitor`` for a user's own network), the
  noise kernel (``noise_kernel``), data sets (``datasets``), claims verdicts (``verdicts``),
  figure style (``plotting``) and files (``arrays``, ``io``);
* the **studies**, one package each under :mod:`eoslab.studies`: ``jacobian_alignment`` (the
  paper), ``sam_edge``, ``stochastic_eos``, ``layerwise_sharpness``;
* the **command line**, :mod:`eoslab.cli` (``eoslab train | data | analyze | … | study NAME …``),
  which the workflow's rules call.

For your own network (README, "Analyse your own network"):

* :func:`eoslab.decompose` — the paper's metrics (Eqs. 2–8) of an ``nn.Sequential`` MLP on ``(X, y)``
  as one tidy table (:mod:`eoslab.network`);
* :class:`eoslab.SharpnessMonitor` — the same every N steps of any training loop, written as the
  analysis stage's table (:mod:`eoslab.monitor`).

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
