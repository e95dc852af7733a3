"""The package's shape, checked: short functions, one-way dependencies through a small interface, and
registries that cover every name the command line offers."""

import ast
from pathlib import Path

import pytest

import trainers
from bioplaus_analysis.choices import ATTACKS, EMBEDDINGS, FIGURES
from bioplaus_analysis.embedding import EMBEDDERS
from bioplaus_analysis.figures import DRAW
from bioplaus_analysis.robustness import ATTACK_METHODS

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """The modules `path` imports (absolute names; relative imports resolved inside its package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level] if node.level else []
            found.add(".".join(base + ([node.module] if node.module else [])))
    return found


@pytest.mark.parametrize("package", ["trainers", "bioplaus_analysis"])
def test_no_function_is_longer_than_sixty_lines(package):
    long = [f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in _modules(package) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert long == []


def test_trainers_never_imports_the_analysis_package():
    assert not [p for p in _modules("trainers") if any(m.startswith("bioplaus_analysis") for m in _imports(p))]


def test_the_analysis_uses_trainers_through_its_public_names_and_the_documented_modules():
    allowed = {"trainers", *trainers.ANALYSIS_INTERFACE}
    used = {(p.name, m) for p in _modules("bioplaus_analysis") for m in _imports(p) if m.startswith("trainers")}
    assert {(name, m) for name, m in used if m not in allowed} == set()
    figures = {m for p in _modules("bioplaus_analysis/figures") for m in _imports(p)}
    assert not figures & {"trainers.training", "trainers.optim", "trainers.distributed"}  # nothing of the loop


@pytest.mark.parametrize("registry, names", [(DRAW, FIGURES), (ATTACK_METHODS, ATTACKS), (EMBEDDERS, EMBEDDINGS)])
def test_every_offered_name_has_its_registered_function(registry, names):
    assert set(registry) == set(names)
    assert all(callable(function) for function in registry.values())
