"""The floors of docs/architecture.md: no engine module imports a study, nothing in the package imports
Snakemake, and the studies' catalog modules (imported by the Snakefile) import neither torch nor matplotlib."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "eoslab"
ENGINE = sorted(p for p in PACKAGE.rglob("*.py") if "studies" not in p.relative_to(PACKAGE).parts
                and p.name != "cli.py")
STUDIES = sorted(p.name for p in (PACKAGE / "studies").iterdir() if (p / "__init__.py").exists())


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against the package)."""
    package = ["eoslab", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_there_are_four_studies_and_an_engine():
    assert STUDIES == ["jacobian_alignment", "layerwise_sharpness", "sam_edge", "stochastic_eos"]
    assert len(ENGINE) > 20
    for study in STUDIES:
        assert (PACKAGE / "studies" / study / "cli.py").exists(), f"study {study} has no cli module"


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_imports_no_study(path):
    studies = sorted(name for name in imported_modules(path) if name.startswith("eoslab.studies"))
    assert not studies, f"engine module {path.relative_to(PACKAGE)} imports {studies}"


def test_the_import_check_sees_relative_imports():
    names = imported_modules(PACKAGE / "studies" / "jacobian_alignment" / "figures.py")
    assert "eoslab.plotting" in names and "eoslab.studies.jacobian_alignment.catalog" in names


def test_no_snakemake_inside_the_package():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if any(name.split(".")[0] == "snakemake" for name in imported_modules(p))]
    assert not offenders


@pytest.mark.parametrize("study", [s for s in STUDIES if (PACKAGE / "studies" / s / "catalog.py").exists()])
def test_catalogs_import_neither_torch_nor_matplotlib(study):
    heavy = {name.split(".")[0] for name in imported_modules(PACKAGE / "studies" / study / "catalog.py")}
    assert not heavy & {"torch", "matplotlib", "seaborn"}
