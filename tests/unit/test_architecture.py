"""The layout rules of docs/architecture.md that the import contracts (.importlinter, run by
`make lint`) cannot see, and a check that those contracts hold and can fail."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The stages of the flow and what they stand on: what a deployed service runs.
RUNTIME = ("common", "ingest", "scoring", "detection", "policy", "evidence", "actions", "api")


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names, at any depth (function-local ones too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_runtime_library_never_imports_a_service():
    # services/ installs as abusewatch.services (a package-dir mapping), which import-linter's
    # graph of the abusewatch folder does not contain: checked here instead.
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in imported_modules(path) if name.startswith("abusewatch.services"))
        for package in RUNTIME
        for path in (ROOT / "abusewatch" / package).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_services_import_each_other_without_cycles():
    # Inside services/ every import is spelled abusewatch.services.*, a name import-linter's graph
    # does not have (the folder mapping), so its cycle contract cannot see these: checked here.
    import graphlib

    modules = {
        "abusewatch.services." + ".".join(path.relative_to(ROOT / "services").with_suffix("").parts): path
        for path in (ROOT / "services").rglob("*.py")
    }
    modules = {name.removesuffix(".__init__"): path for name, path in modules.items()}
    graph = {name: {imported for imported in imported_modules(path) if imported in modules and imported != name}
             for name, path in modules.items()}
    assert any(graph.values())  # the check sees the services' imports of each other
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle


def test_the_package_root_holds_only_subpackages_and_the_contract_alias():
    assert sorted(p.name for p in (ROOT / "abusewatch").glob("*.py")) == ["__init__.py", "contract.py"]
    import abusewatch.contract
    from abusewatch.ingest import contract

    assert abusewatch.contract is contract  # the old public name is the moved module itself


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports is missing: install the test extras (pip install -e '.[test]')")
    return subprocess.run([lint, "--config", str(cwd / ".importlinter")], capture_output=True, text=True, cwd=ROOT)


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_import_against_the_layers_breaks_the_contracts(tmp_path):
    # The same contracts, with the detector's package forbidden from importing the contract it
    # does import: lint-imports must report it.
    config = (ROOT / ".importlinter").read_text() + (
        "\n[importlinter:contract:probe]\nname = probe\ntype = forbidden\n"
        "source_modules =\n    abusewatch.detection\nforbidden_modules =\n    abusewatch.ingest\n"
    )
    (tmp_path / ".importlinter").write_text(config)
    result = _lint_imports(tmp_path)
    assert result.returncode != 0 and "probe BROKEN" in result.stdout
