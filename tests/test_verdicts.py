"""The one verdict rule of every study's claims table (eoslab.verdicts), on hand-made numbers."""

import math

import pandas as pd
import pytest

from eoslab.verdicts import (CLAIM_COLUMNS, Claim, at_least, at_most, between, claim_row, claims_frame,
                             claims_markdown, read_claims, verdict, write_claims)

# "SAM's sharpness is an order of magnitude smaller than GD's": ratio ≤ 0.1; same direction: < 1.
ORDER_OF_MAGNITUDE = Claim("sam_vs_gd", "§4.1", "an order of magnitude smaller", "λ₁(SAM)/λ₁(GD)",
                           reproduced_if=at_most(0.1), partial_if=at_most(1.0))


@pytest.mark.parametrize("values, expected", [
    ([0.05, 0.08, 0.09], "reproduced"),
    ([0.25, 0.3, 0.44], "partial"),          # ×3 smaller is not an order of magnitude
    ([1.2, 1.5], "not reproduced"),
    ([], "not run"),
    ([math.nan, math.nan], "not run"),
])
def test_order_of_magnitude(values, expected):
    assert verdict(ORDER_OF_MAGNITUDE, values) == expected


def test_median_is_read_and_boundaries_are_closed():
    assert verdict(ORDER_OF_MAGNITUDE, [0.01, 0.1, 5.0]) == "reproduced"     # median 0.1, closed bound
    assert verdict(ORDER_OF_MAGNITUDE, [0.01, 0.100001, 5.0]) == "partial"


def test_extreme_statistic():
    as_much_as = Claim("increase", "§4", "as much as ×5.45", "max_t λ₁(t)/λ₁(t₀)", reproduced_if=at_least(5.45 * 0.8),
                       partial_if=at_least(1.0), paper_value=5.45, statistic="max")
    assert verdict(as_much_as, [1.1, 1.2, 4.5]) == "reproduced"
    assert verdict(as_much_as, [1.1, 1.2, 3.0]) == "partial"
    assert verdict(as_much_as, [0.8, 0.9]) == "not reproduced"


def test_every_run():
    at_edge = Claim("eos", "§3", "λ₁ settles at 2/η", "λ₁ η / 2", reproduced_if=between(0.9, 1.1),
                    partial_if=between(0.5, 2.0), every_run=True)
    assert verdict(at_edge, [0.95, 1.0, 1.05]) == "reproduced"
    assert verdict(at_edge, [0.95, 1.0, 1.35, 2.06]) == "partial"     # median 1.175 in [0.5, 2]
    assert verdict(at_edge, [0.95, 1.0, 1.05, 1.35, 2.06]) == "partial"  # median ok, not every run
    assert verdict(at_edge, [3.0, 3.5]) == "not reproduced"
    assert "every run in [0.9, 1.1]" in at_edge.rule_text()


def test_partial_must_contain_reproduced():
    with pytest.raises(ValueError, match="must contain"):
        Claim("x", "§1", "s", "q", reproduced_if=at_most(1.0), partial_if=at_most(0.5))
    with pytest.raises(ValueError, match="statistic"):
        Claim("x", "§1", "s", "q", reproduced_if=at_most(1.0), statistic="mode")


def test_row_summary_and_round_trip(tmp_path):
    row = claim_row("sam_edge", ORDER_OF_MAGNITUDE, [0.25, 0.44, 0.3], config="config/cpu/sam_edge.yaml",
                    runs="mlp η ∈ {0.02, 0.04}")
    assert row["verdict"] == "partial" and row["n"] == 3
    assert row["median"] == pytest.approx(0.3) and row["min"] == 0.25 and row["max"] == 0.44
    assert row["sem"] == pytest.approx(pd.Series([0.25, 0.44, 0.3]).sem())
    empty = claim_row("sam_edge", Claim("other", "§4.3", "s", "q", reproduced_if=at_least(0)), [], config="c")
    assert empty["verdict"] == "not run" and empty["note"]
    frame = claims_frame([row, empty])
    assert list(frame.columns) == CLAIM_COLUMNS
    write_claims(frame, tmp_path / "claims.csv", tmp_path / "claims.md", title="sam_edge claims")
    back = read_claims(tmp_path / "claims.csv")
    assert back["verdict"].tolist() == ["partial", "not run"]
    assert back.loc[0, "runs"] == "mlp η ∈ {0.02, 0.04}"
    markdown = (tmp_path / "claims.md").read_text()
    assert "**partial**" in markdown and "1 partial" in markdown and markdown.startswith("# sam_edge claims")
    assert claims_markdown(frame).count("\n| `") == 2


def test_frame_rejects_hand_written_verdicts_and_duplicates():
    row = claim_row("s", ORDER_OF_MAGNITUDE, [0.05], config="c")
    with pytest.raises(ValueError, match="verdicts"):
        claims_frame([{**row, "verdict": "mostly reproduced"}])
    with pytest.raises(ValueError, match="repeats"):
        claims_frame([row, row])


def test_a_stored_row_is_rejudged_to_the_same_verdict():
    from eoslab.verdicts import judge
    at_edge = Claim("eos", "§3", "λ₁ settles at 2/η", "λ₁ η / 2", reproduced_if=between(0.9, 1.1),
                    partial_if=between(0.5, 2.0), every_run=True)
    for values in ([0.95, 1.0, 1.05], [0.95, 1.0, 1.05, 1.35, 2.06], [3.0], []):
        row = claim_row("s", at_edge, values, config="c")
        assert judge(at_edge, row["measured"], row["min"], row["max"], row["n"]) == row["verdict"]


def test_with_claims_block_appends_a_missing_block_and_refuses_an_unclosed_one():
    from eoslab.verdicts import with_claims_block

    claim = Claim("c", "§1", "grows", "ratio", at_least(2.0), at_least(1.0))
    frame = claims_frame([claim_row("x", claim, [1.5], config="config/cpu/x.yaml")])
    page = with_claims_block("# x\n", "x", frame)
    assert page.startswith("# x\n\n## Claims at CPU scale\n\n<!-- claims: config/cpu/x.yaml -->\n| claim |")
    assert page.endswith("1 partial, 0 not reproduced, 0 not run.\n<!-- /claims -->\n")
    assert with_claims_block(page, "x", frame) == page          # replacing is idempotent
    kept = with_claims_block("a\n<!-- claims pending: config/cpu/x.yaml -->\nb\n", "x", frame)
    assert kept.startswith("a\n<!-- claims: config/cpu/x.yaml -->\n| claim |") and kept.endswith("<!-- /claims -->\nb\n")
    with pytest.raises(ValueError, match="no <!-- /claims -->"):
        with_claims_block("<!-- claims: config/cpu/x.yaml -->\n| a |\n", "x", frame)
