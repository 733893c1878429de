"""Which of the paper's 42 figures shows what (kept free of torch/matplotlib imports).

The Snakefile reads this catalogue to know each figure's data set, criterion
and caption; :mod:`eoslab.studies.jacobian_alignment.figures` draws them.  Kinds of figure:

* ``sharpness`` — ``λ₁`` of ``𝓗_θ L̃``, ``H``, ``G`` (Figures 1, 6–9);
* ``overlap`` — ``ρ(K)`` and ``E‖K‖²`` (Figures 2, 10–13);
* ``layers135`` — ``E‖Kⁱ‖²`` for ``i = 1, 3, 5`` (Figure 3);
* ``layers`` — ``E‖Kⁱ‖²`` for every layer (Figures 14–18);
* ``components`` — the change of the five factors of Eq. 7 for ``k = 1`` (Figures 4, 19–22);
* ``chi2``, ``r_chi``, ``EJ2``, ``r_DeltaJ`` — one panel per layer ``i = 1 … L−1``
  (Figures 23–27, 28–32, 33–37, 38–42);
* ``dice`` — examples of the synthetic data (Figure 5).

Figure 7's caption in the paper says "dice dataset with MSE", an experiment Table 1
never ran; by the order of Figures 1, 6, 8, 9 and of every other group it is
CIFAR-10 with MSE, which is what we draw (the caption says so).

*Variants.*  A config may train a data set × criterion that no figure of the
paper shows (e.g. dice with MSE, the CPU-scale config's, which is what Figure 7's
caption names).  For such a pair, :func:`variants_for` redraws the figures of the
paper's group with the same criterion (for MSE: CIFAR-10 MSE's Figures 7, 11, 16,
20, 25, 30, 35, 40) on its runs, under the name ``figNN_<dataset>_<criterion>``.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMES = {"dice": "dice", "cifar10": "CIFAR-10", "atrial_fibrillation": "AtrialFibrillation", "sst": "SST"}
CRITERION_NAMES = {"cross_entropy": "cross-entropy", "mse": "MSE"}

#: The order of the supplement's groups of five figures.
GROUP_ORDER = [("cifar10", "cross_entropy"), ("dice", "cross_entropy"), ("cifar10", "mse"),
               ("atrial_fibrillation", "cross_entropy"), ("sst", "cross_entropy")]

KIND_TEXT = {
    "sharpness": ("Sharpness of the training-loss Hessian 𝓗_θL̃ (left), of H (middle) and of G (right)",
                  "Components of the Hessian"),
    "overlap": ("Overlap ratio ρ(K) (left) and E‖K‖²_max (right)", "Overlap ratio"),
    "layers135": ("Layerwise E‖Kⁱ‖²_max for layers i = 1 (left), 3 (middle) and 5 (right)", "Layerwise sharpness"),
    "layers": ("Layerwise E‖Kⁱ‖²_max for every layer i (one panel per layer, i = 1 top left)", "Layerwise sharpness"),
    "components": ("Change of the five factors of E‖Δ¹‖²_max in Eq. 7, each divided by its value at the end of "
                   "the initial transient: Π_χ¹, P¹_{χ,Δ/χ}, Π_J¹ (top), P¹_{Δ,J} and E‖Δᴸ‖²_max (bottom)",
                   "Components of E‖Δ¹‖²"),
    "chi2": ("Mean squared activation ratios E(χⁱ)² for layers i = 1 … L−1 (one panel per layer)",
             "Activation ratios"),
    "r_chi": ("Alignment ratios r(χⁱ, Δⁱ/χⁱ) for layers i = 1 … L−1 (one panel per layer)", "Alignment ratios r(χ, Δ/χ)"),
    "EJ2": ("Expected squared operator norms of the layerwise Jacobians E‖∂x̂ⁱ⁺¹/∂x̂ⁱ‖²_max for i = 1 … L−1",
            "Layerwise Jacobian norms"),
    "r_DeltaJ": ("Alignment ratios r(Δⁱ⁺¹, ∂x̂ⁱ⁺¹/∂x̂ⁱ) for i = 1 … L−1 (the paper labels them r(Δⁱ, ∂x̂ⁱ⁺¹/∂x̂ⁱ))",
                 "Alignment ratios r(Δ, J)"),
}


@dataclass(frozen=True)
class Figure:
    number: str          # "01" … "42"
    kind: str
    dataset: str
    criterion: str

    @property
    def is_variant(self) -> bool:
        """True when the figure's panels are drawn for another data set × criterion than the paper's."""
        return self.kind != "dice" and (self.dataset, self.criterion) != (FIGURES[self.number].dataset,
                                                                            FIGURES[self.number].criterion)

    @property
    def name(self) -> str:
        """The file name's part after ``fig``: ``07``, or ``07_dice_mse`` for a variant."""
        return f"{self.number}_{self.dataset}_{self.criterion}" if self.is_variant else self.number

    @property
    def section(self) -> str:
        return "Data" if self.kind == "dice" else KIND_TEXT[self.kind][1]

    @property
    def caption(self) -> str:
        if self.kind == "dice":
            return ("Figure 5. Examples of the synthetic dice images (Supplement 7.3, Table 3); each column is "
                    "one class, one to six.")
        text = (f"Figure {int(self.number)}. {KIND_TEXT[self.kind][0]} when trained on "
                f"{NAMES[self.dataset]} with {CRITERION_NAMES[self.criterion]}, against the integration time t. "
                "One curve per run, coloured by training-set size D.")
        if self.is_variant:
            text = (f"Figure {int(self.number)}'s panels drawn for {NAMES[self.dataset]} with "
                    f"{CRITERION_NAMES[self.criterion]} (the paper's Figure {int(self.number)} shows "
                    f"{NAMES[FIGURES[self.number].dataset]}): " + text.split(". ", 1)[1])
            if self.number == "07" and (self.dataset, self.criterion) == ("dice", "mse"):
                text += " This is the experiment the paper's caption of Figure 7 names."
        elif self.number == "07":
            text += (" (The paper's caption says dice with MSE, which Table 1 never ran; by the figure order this "
                     "is CIFAR-10 with MSE.)")
        return text


def _catalogue() -> dict[str, Figure]:
    figures = {}

    def add(number: int, kind: str, combo: tuple[str, str]) -> None:
        figures[f"{number:02d}"] = Figure(f"{number:02d}", kind, *combo)

    main = ("cifar10", "cross_entropy")
    for number, kind in ((1, "sharpness"), (2, "overlap"), (3, "layers135"), (4, "components")):
        add(number, kind, main)
    figures["05"] = Figure("05", "dice", "dice", "cross_entropy")
    others = [c for c in GROUP_ORDER if c != main]  # dice CE, CIFAR-10 MSE, AF CE, SST CE
    for offset, combo in enumerate(others):
        add(6 + offset, "sharpness", combo)
        add(10 + offset, "overlap", combo)
        add(19 + offset, "components", combo)
    for offset, combo in enumerate(GROUP_ORDER):
        add(14 + offset, "layers", combo)
        add(23 + offset, "chi2", combo)
        add(28 + offset, "r_chi", combo)
        add(33 + offset, "EJ2", combo)
        add(38 + offset, "r_DeltaJ", combo)
    return dict(sorted(figures.items()))


FIGURES: dict[str, Figure] = _catalogue()


def figure_spec(number: str, dataset: str | None = None, criterion: str | None = None) -> Figure:
    """Figure ``number`` as the paper has it, or its variant for another data set × criterion."""
    spec = FIGURES[number]
    if dataset is None and criterion is None:
        return spec
    return Figure(number, spec.kind, dataset or spec.dataset, criterion or spec.criterion)


def variants_for(combos) -> list[Figure]:
    """Variants (module docstring) for the trained pairs that no figure of the paper shows."""
    shown = {(f.dataset, f.criterion) for f in FIGURES.values() if f.kind != "dice"}
    out = []
    for dataset, criterion in (tuple(c) for c in combos):
        if (dataset, criterion) in shown:
            continue
        group = next((g for g in GROUP_ORDER if g[1] == criterion and g != ("cifar10", "cross_entropy")), None)
        if group is None:
            continue
        out += [figure_spec(n, dataset, criterion) for n, f in FIGURES.items()
                if (f.dataset, f.criterion) == group and f.kind != "dice"]
    return out


def figures_for(combos) -> list[str]:
    """Figure numbers whose data set × criterion the config trains (Figure 5: whenever dice is used)."""
    combos = {tuple(c) for c in combos}
    datasets = {d for d, _ in combos}
    return [n for n, f in FIGURES.items()
            if (f.kind == "dice" and "dice" in datasets) or (f.kind != "dice" and (f.dataset, f.criterion) in combos)]
