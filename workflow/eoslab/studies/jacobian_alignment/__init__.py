"""Study ``jacobian_alignment``: Lowell & Kastner (2024), *Training on the Edge of Stability Is
Caused by Layerwise Jacobian Alignment* — the paper the pipeline reproduces first.

The runs are trained by the engine's flow trainer (:mod:`eoslab.training`, exponential Euler,
Supplement 7.2) on the engine's data sets (:mod:`eoslab.datasets`); the metrics of one set of
weights are the engine's (:mod:`eoslab.metrics`, :mod:`eoslab.decomposition`).  Here:

* :mod:`.analysis` — every snapshot of a run → one tidy table of the paper's metrics (resumable);
* :mod:`.aggregate` — per-run tables → one analysis table and the training logs;
* :mod:`.powerlaw` — Table 2's power laws (Eq. 9); :mod:`.tables` — Tables 1–3;
* :mod:`.claims` — the quantitative claims of Sections 4–5 against the paper's numbers;
* :mod:`.catalog` — what each of Figures 1–42 shows (no torch import: the Snakefile reads it);
  :mod:`.figures` draws them, :mod:`.dice_examples` draws Figure 5;
* :mod:`.cli` — ``eoslab study jacobian_alignment ...`` (and the top-level ``eoslab analyze |
  aggregate | table | figure`` the rules call).
"""
