"""eoslab: reproduce Lowell & Kastner (2024) and companion edge-of-stability studies.

A map of the package (docs/architecture.md has the whole picture):

* the **engine**, plain PyTorch with no Snakemake inside and no study imported — models
  (``models``, ``convnet``, ``transformer``), losses (``criteria``), matrix-free curvature
  (``curvature``, ``layerwise``), eigensolvers (``eigensolvers``), steps (``integrators``,
  ``optimizers``, ``sam``, ``step_sizes``), the flow trainer (``training``, ``rundir``,
  ``settings``), the paper's metrics of one set of weights (``metrics``, ``decomposition``), the
  noise kernel (``noise_kernel``), data sets (``datasets``), claims verdicts (``verdicts``),
  figure style (``plotting``) and files (``arrays``, ``io``);
* the **studies**, one package each under :mod:`eoslab.studies`: ``jacobian_alignment`` (the
  paper), ``sam_edge``, ``stochastic_eos``, ``layerwise_sharpness``;
* the **command line**, :mod:`eoslab.cli` (``eoslab train | data | analyze | … | study NAME …``),
  which the workflow's rules call.
"""

__version__ = "0.1.0"
