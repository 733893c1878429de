"""Study ``layerwise_sharpness``: the companion thesis on layerwise sharpness, step-size schemes and
the maximal stable step size (paper 004; Chapters 3 and 4 and Appendix A).

* Chapter 3 (§3.2, Figures 3.1–3.6, A.1–A.5): full-batch gradient descent with ``η = 2/25`` or
  ``2/10`` on the synthetic regression data of §3.1.1, logging at every iteration the loss, the
  sharpness of the full Hessian and of each layer's ``(W_i, b_i)`` block and the per-layer gradient
  norms (:mod:`.trajectory`, engine: :mod:`eoslab.layerwise`).
* §3.3 (Figures 3.7–3.9, A.6, A.7): the step-size schemes ``1/λ_0``, ``1/λ_t``, layerwise
  ``1/λ_{i,t}``, ``1/(2λ_{i,t})`` and the Armijo line search (engine: :mod:`eoslab.step_sizes`).
* Chapter 4 (Algorithm 2, Figures 4.2–4.7, A.8–A.10, Tables 4.1–4.2): the largest step size
  before gradient descent (full batch or batch size 1) diverges within ``T`` iterations
  (:mod:`.maxstep`).

:mod:`.catalog` says which runs each figure and table shows (no torch import: the Snakefile reads
it); :mod:`.figures` and :mod:`.tables` draw them; :mod:`.cli` is ``eoslab study layerwise_sharpness``.
"""
