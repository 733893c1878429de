"""Figures stand alone: the title names the quantity; every curve of a figure is drawn alike
(issue 16, item 9)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from test_results import synthetic_table

from eoslab.studies.jacobian_alignment.catalog import FIGURES
from eoslab.studies.jacobian_alignment.figures import draw_figure


@pytest.mark.parametrize("number,words", [("02", ["Overlap ratio", "CIFAR-10", "cross-entropy"]),
                                          ("19", ["Factors of", "Eq. 7", "dice"]),
                                          ("42", ["Alignment ratios", "SST"])])
def test_title_says_the_quantity_and_the_experiment(number, words):
    spec = FIGURES[number]
    fig = draw_figure(number, synthetic_table(combos=[(spec.dataset, spec.criterion)], sizes=(100,), seeds=(0,)))
    try:
        title = fig.get_suptitle()
        assert title.startswith(f"Figure {int(number)}. ")
        assert all(word in title for word in words), title
    finally:
        plt.close(fig)


@pytest.mark.parametrize("short_iterations,marked", [((0, 10, 100), True), ((0, 10, 100, 200, 300), False)])
def test_figure_19_marks_every_run_or_none(short_iterations, marked):
    """One run has fewer points than the others (e.g. it converged early): the figure either marks
    every run's points or none, never some."""
    long = synthetic_table(combos=[("dice", "cross_entropy")], sizes=(100, 400), seeds=(0,),
                           iterations=(0, 10, 100, 200, 300, 400))
    short = synthetic_table(combos=[("dice", "cross_entropy")], sizes=(200,), seeds=(0,), iterations=short_iterations)
    fig = draw_figure("19", pd.concat([long, short], ignore_index=True))
    try:
        lines = [line for ax in fig.get_axes() for line in ax.get_lines()]
        assert len(lines) == 5 * 3
        assert {line.get_marker() for line in lines} == ({"."} if marked else {"None"})
    finally:
        plt.close(fig)
