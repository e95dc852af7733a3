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
    assert not figures & {"trainers.loop.training", "trainers.loop.optim", "trainers.loop.distributed"}  # nothing of the loop


@pytest.mark.parametrize("registry, names", [(DRAW, FIGURES), (ATTACK_METHODS, ATTACKS), (EMBEDDERS, EMBEDDINGS)])
def test_every_offered_name_has_its_registered_function(registry, names):
    assert set(registry) == set(names)
    assert all(callable(function) for function in registry.values())


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """The trainers modules `path` imports when it is imported (statements at module level, not in functions)."""
    tree, found = ast.parse(path.read_text()), set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trainers"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from trainers import precision`
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("trainers")}
    return found


def test_trainers_sub_packages_import_one_way_without_cycles():
    modules = {_module_name(p): p for p in _modules("trainers")}
    graph = {name: {m for m in _top_level_imports(path) if m in modules and m != name and name != "trainers"}
             for name, path in modules.items()}
    order, state = [], {}

    def visit(name, trail):
        if state.get(name) == "open":
            raise AssertionError(f"import cycle: {' -> '.join(trail + [name])}")
        if state.get(name) != "done":
            state[name] = "open"
            for imported in sorted(graph[name] - {m for m in graph[name] if name.startswith(m + ".")}):
                visit(imported, trail + [name])
            state[name] = "done"
            order.append(name)
    for name in sorted(graph):
        visit(name, [])
    store = {m for name in modules if name.startswith("trainers.store.") for m in graph[name]}
    assert not {m for m in store if m.split(".")[1] in ("nets", "rules", "loop", "tuning", "config")}, store


def test_each_trainers_sub_package_says_what_it_holds():
    for package in ("data", "snn", "nets", "rules", "loop", "store", "tuning"):
        doc = ast.get_docstring(ast.parse((ROOT / "trainers" / package / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 5, package


def test_imports_inside_functions_are_the_two_documented_ones():
    """Function-level imports hide the order of the house; two are deliberate: the Triton kernels load only when
    a fused scan runs (triton is heavy and optional), and a stored config.json is validated by `TrainConfig`,
    which sits above the run files."""
    inner = set()
    for path in _modules("trainers"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner |= {(path.relative_to(ROOT).as_posix(), sub.module) for sub in ast.walk(node)
                          if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("trainers")}
    assert inner == {("trainers/snn/neurons.py", "trainers.snn.lif_kernels"),
                     ("trainers/store/runfiles.py", "trainers.config")}


@pytest.mark.parametrize("package", ["trainers", "bioplaus_analysis"])
def test_no_class_is_longer_than_one_hundred_twenty_lines(package):
    long = [f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in _modules(package) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno >= 120]
    assert long == []


def test_the_analyses_never_import_what_runs_them():
    """bioplaus_analysis/commands (the command, compare, reproduce, jobs) sits above every analysis and figure."""
    found = {(p.relative_to(ROOT).as_posix(), m) for p in _modules("bioplaus_analysis")
             if "commands" not in p.parts and p.name not in ("__init__.py", "__main__.py")
             for m in _imports(p) if m.startswith("bioplaus_analysis.commands")}
    assert found == set()


def test_every_docs_pointer_in_a_docstring_names_a_file_of_the_repository():
    import re
    pointers = {m for package in ("trainers", "bioplaus_analysis") for p in _modules(package)
                for m in re.findall(r"docs/[\w./-]+\.md|\b(?:README|DESIGN|CONTRIBUTING)\.md", p.read_text())}
    assert pointers and all((ROOT / m).is_file() for m in pointers), pointers
