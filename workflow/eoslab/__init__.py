"""eoslab: reproduce Lowell & Kastner (2024) and companion edge-of-stability studies.

The numerical core is plain PyTorch with no Snakemake inside:

* :mod:`eoslab.models` — the paper's MLP and ``build_model``;
* :mod:`eoslab.criteria` — cross-entropy and MSE with ``H_z l`` and its root ``R``;
* :mod:`eoslab.curvature` — matrix-free Hessian, ``G`` and ``H`` block products over a data set;
* :mod:`eoslab.eigensolvers` — top eigenpairs (LOBPCG) and the paper's power iteration;
* :mod:`eoslab.integrators` — exponential Euler (Supplement 7.2) and gradient descent steps;
* :mod:`eoslab.training` — the full-batch training loop with snapshots and resume;
* :mod:`eoslab.cli` — the ``eoslab`` command the workflow rules call.
"""

__version__ = "0.1.0"
