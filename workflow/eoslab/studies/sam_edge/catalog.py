"""What each of Figures 1–16 shows (imports neither torch nor matplotlib: the workflow reads it)."""

from __future__ import annotations

from dataclasses import dataclass

EXPERIMENT_NAMES = {"mlp": "MLP", "cnn": "CNN", "transformer": "character transformer"}


@dataclass(frozen=True)
class FigureSpec:
    number: str
    kind: str                 # ratio | eigen | loss | alignment
    experiment: str | None
    sam: bool = False         # eigen: SAM at the figure's ρ (else ρ = 0)
    gd_edge: bool = False     # eigen: draw 2/η
    caption: str = ""


def _catalog() -> dict[str, FigureSpec]:
    figures = {"01": FigureSpec("01", "ratio", None, caption=(
        "The SAM-edge relative to GD's edge, S/(2/η) = (α/2)(√(1+4/α) − 1), as a function of α = η‖g‖/(2ρ) "
        "(Figure 1): it tends to 1 as α → ∞ and behaves like √α as α → 0."))}
    for start, experiment in ((2, "mlp"), (7, "cnn"), (12, "transformer")):
        name, gd = EXPERIMENT_NAMES[experiment], "SGD" if experiment == "transformer" else "GD"
        numbers = [f"{n:02d}" for n in range(start, start + 5)]
        figures[numbers[0]] = FigureSpec(numbers[0], "eigen", experiment, sam=False, gd_edge=True, caption=(
            f"Magnitudes of the three largest Hessian eigenvalues when the {name} is trained with {gd} (ρ = 0), "
            f"one panel per step size η, with 2/η (the SAM-edge at ρ = 0)."))
        figures[numbers[1]] = FigureSpec(numbers[1], "eigen", experiment, sam=True, gd_edge=True, caption=(
            f"Magnitudes of the three largest Hessian eigenvalues when the {name} is trained with SAM at the "
            f"figure's ρ, with 2/η and the SAM-edge S(η, ρ, ‖g‖)."))
        figures[numbers[2]] = FigureSpec(numbers[2], "eigen", experiment, sam=True, gd_edge=False, caption=(
            f"As Figure {int(numbers[1])} without 2/η: the eigenvalue magnitudes of the {name} under SAM against "
            f"the SAM-edge."))
        figures[numbers[3]] = FigureSpec(numbers[3], "loss", experiment, caption=(
            f"Training loss of the {name} with {gd} (ρ = 0, top row) and SAM at the figure's ρ (bottom row)."))
        figures[numbers[4]] = FigureSpec(numbers[4], "alignment", experiment, caption=(
            f"Alignment with the top Hessian eigenvector v₁ of the gradient at the iterate, ∇ℓ(w), and of the "
            f"gradient SAM steps along, ∇ℓ(w + ρĝ), for the {name} under SAM at the figure's ρ."))
    return figures


FIGURES = _catalog()


def figure_experiment(number: str) -> str | None:
    return FIGURES[number].experiment


