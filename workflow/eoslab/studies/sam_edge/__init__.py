"""Study ``sam_edge``: Long & Bartlett (2023), "Sharpness-Aware Minimization and the Edge of Stability".

SAM (Eq. 1) and GD/SGD on three settings — an MLP on MNIST, a small CNN on 1,000 CIFAR-10 images,
a character transformer on tiny_shakespeare — tracking the top Hessian eigenvalues against the
SAM-edge of Proposition 2 (:mod:`eoslab.sam`).  Modules: :mod:`.data` (the training data),
:mod:`.experiment` (one run), :mod:`.aggregate` (all runs of an experiment in one table),
:mod:`.claims` (§4's statements as numbers), :mod:`.figures` (Figures 1–16), :mod:`.cli`.
"""
