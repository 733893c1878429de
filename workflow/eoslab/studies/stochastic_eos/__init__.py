"""Study ``stochastic_eos``: Agarwala & Pennington (2024), *High dimensional analysis reveals
conservative sharpening and a stochastic edge of stability*.

The theory (second-moment map 𝒯, noise kernel norm K̃ and its approximations, the MLP's NTK)
is engine code, :mod:`eoslab.noise_kernel`; the data are :mod:`eoslab.datasets.mnist` and
:mod:`eoslab.datasets.preprocessing`.  Here:

* :mod:`.linear` — the linear model with flat, dispersed and localised Jacobians: η sweeps of
  λ_max(𝒯), K̃, K̃_HD, K̃_tr against Monte-Carlo SGD (Figures 1, 7, 8);
* :mod:`.quadratic` — the quadratic regression model of §3 with flat and shaped model curvature
  (conservative sharpening, Figures 2 and 9);
* :mod:`.mlp` — the MLP on the first N MNIST images with ±1 parity labels, SGD over batch sizes
  and learning rates, K̃ computed exactly from the NTK (Figures 3–5, 10);
* :mod:`.figures`, :mod:`.tables` and :mod:`.cli` (``eoslab study stochastic_eos …``).

``docs/stochastic_eos.md`` holds the derivations and which numbers are our choices.
"""
