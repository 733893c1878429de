"""Each study's docs page states only the verdicts its claims table computes (issue 22).

The page carries the CPU-config claims table between ``<!-- claims: config/cpu/<study>.yaml -->`` and
``<!-- /claims -->`` exactly as :func:`eoslab.verdicts.claims_markdown` renders the committed CSV
``docs/claims/<study>-cpu.csv``; every row of that CSV is re-judged from its numbers by the rule of the
study's ``claims.CLAIMS``; and outside the block the page states no verdict in bold.
"""

import importlib
import re
from pathlib import Path

import pytest

from eoslab.verdicts import CLAIMS_PAGES, VERDICTS, claims_markdown, judge, read_claims

ROOT = Path(__file__).resolve().parents[1]
PAGES = {study: Path(page).name for study, page in CLAIMS_PAGES.items()}
#: A verdict word opening a bold phrase: ``**partial**``, ``**Reproduced.**``, ``**not reproduced at this length**``.
BOLD_VERDICT = re.compile(r"\*\*\s*(" + "|".join(sorted(VERDICTS, key=len, reverse=True)) + r")\b[^*]*\*\*",
                          re.IGNORECASE)


def claims_block(page: str, study: str) -> tuple[str, str]:
    """(the block's text, the page without it)."""
    begin = f"<!-- claims: config/cpu/{study}.yaml -->"
    if begin not in page or "<!-- /claims -->" not in page:
        raise AssertionError(f"the page of {study} has no claims block ({begin} … <!-- /claims -->)")
    head, rest = page.split(begin, 1)
    block, tail = rest.split("<!-- /claims -->", 1)
    return block.strip(), head + tail


def pending(page: str, study: str) -> bool:
    """The page says, in its own words and a marker, that its CPU claims table is not computed yet."""
    return f"<!-- claims pending: config/cpu/{study}.yaml -->" in page


@pytest.mark.parametrize("study", sorted(PAGES))
def test_page_verdicts_are_the_tables(study):
    csv = ROOT / "docs" / "claims" / f"{study}-cpu.csv"
    page = (ROOT / "docs" / PAGES[study]).read_text()
    if not csv.exists() and pending(page, study):
        assert not BOLD_VERDICT.findall(page), f"docs/{PAGES[study]} states verdicts while its table is pending"
        pytest.xfail(f"docs/{PAGES[study]} says its CPU claims table is pending (eoslab claims-page {study})")
    assert csv.exists(), f"{csv} (the CPU config's tables/claims.csv) is not committed"
    assert not pending(page, study), f"docs/{PAGES[study]} says pending although {csv.name} is committed"
    table = read_claims(csv)
    declared = importlib.import_module(f"eoslab.studies.{study}.claims").CLAIMS   # a list, or a dict by id
    claims = {claim.claim: claim for claim in (declared.values() if isinstance(declared, dict) else declared)}
    for row in table.to_dict("records"):
        assert row["claim"] in claims, f"{csv.name}: claim {row['claim']!r} is not in {study}.claims.CLAIMS"
        expected = judge(claims[row["claim"]], row["measured"], row["min"], row["max"], int(row["n"]))
        assert row["verdict"] == expected, f"{csv.name}: {row['claim']} says {row['verdict']!r}, the rule {expected!r}"
    block, outside = claims_block(page, study)
    assert block == claims_markdown(table).strip(), \
        f"docs/{PAGES[study]}: the claims block differs from {csv.name} rendered by claims_markdown"
    stated = BOLD_VERDICT.findall(outside)
    assert not stated, f"docs/{PAGES[study]} states verdicts {stated} outside its claims block"


def test_the_block_check_catches_an_edited_verdict():
    table_md = "| a |\n|---|\n| **reproduced** |\n"
    page = f"intro **partial** here\n<!-- claims: config/cpu/x.yaml -->\n{table_md}<!-- /claims -->\n"
    block, outside = claims_block(page, "x")
    assert block == table_md.strip()
    assert BOLD_VERDICT.findall(outside) == ["partial"]
    assert [m.lower() for m in BOLD_VERDICT.findall("**Reproduced.** x **not reproduced at this length** y **nothing**")] \
        == ["reproduced", "not reproduced"]


def test_claims_page_command_copies_the_table_and_replaces_only_the_block(tmp_path):
    from eoslab.cli import main
    from eoslab.verdicts import Claim, at_least, claim_row, claims_frame, write_claims

    claim = Claim("c", "§1", "grows", "ratio", at_least(2.0), at_least(1.0))
    results, docs = tmp_path / "results", tmp_path / "docs"
    source = results / "sam_edge" / "tables" / "claims.csv"
    write_claims(claims_frame([claim_row("sam_edge", claim, [3.0, 1.5], config="config/cpu/sam_edge.yaml")]), source)
    docs.mkdir()
    page = docs / "sam_edge.md"
    page.write_text("before\n<!-- claims: config/cpu/sam_edge.yaml -->\nold **partial**\n<!-- /claims -->\nafter\n")
    assert main(["claims-page", "sam_edge", "--results", str(results), "--docs", str(docs)]) == 0
    table = read_claims(docs / "claims" / "sam_edge-cpu.csv")
    assert table.loc[0, "verdict"] == "reproduced" and table.loc[0, "measured"] == 2.25   # median of 3.0 and 1.5
    block, outside = claims_block(page.read_text(), "sam_edge")
    assert block == claims_markdown(table).strip()
    assert outside == "before\n\nafter\n"
    # a table from another config is refused, and the page is left as it was
    write_claims(claims_frame([claim_row("sam_edge", claim, [3.0], config="config/tiny.yaml")]), source)
    assert main(["claims-page", "sam_edge", "--results", str(results), "--docs", str(docs)]) == 2
    assert claims_block(page.read_text(), "sam_edge")[0] == block
