"""Packaging and configuration stay in sync with the code."""

import tomllib
from pathlib import Path

from abusewatch.common import config

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The top-level data folders the wheel carries as abusewatch/_shipped/<folder> (abusewatch.common.resources).
SHIPPED = ("schemas", "models", "policy")


def test_every_python_package_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {f"abusewatch._shipped.{folder}" for folder in SHIPPED} | {"abusewatch._shipped.schemas.examples"}
    for init in (ROOT / "abusewatch").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in (ROOT / "services").rglob("__init__.py"):
        found.add(".".join(("abusewatch", "services", *init.parent.relative_to(ROOT / "services").parts)))
    assert found == listed


def test_the_wheel_carries_every_file_of_the_shipped_folders():
    setuptools = PYPROJECT["tool"]["setuptools"]
    covered = set()
    for package, patterns in setuptools["package-data"].items():
        # A package lies in the folder of its longest mapped prefix, then the matching subfolders.
        parts = package.split(".")
        depth = next(n for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in setuptools["package-dir"])
        folder = ROOT / setuptools["package-dir"][".".join(parts[:depth])] / Path(*parts[depth:])
        covered |= {path for pattern in patterns for path in folder.glob(pattern)}
    for folder in SHIPPED:
        assert setuptools["package-dir"][f"abusewatch._shipped.{folder}"] == folder
        files = {path for path in (ROOT / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts}
        assert files <= covered, f"files the wheel would leave out: {sorted(map(str, files - covered))}"


def test_configuration_docs_are_generated_from_the_settings():
    assert (ROOT / "docs" / "configuration.md").read_text().strip() == config.markdown().strip(), (
        "run: abusewatch config --markdown > docs/configuration.md"
    )


def test_settings_parse_environment_values():
    from abusewatch.common.settings import IngestSettings, KafkaSettings

    kafka = config.load(KafkaSettings, env={"KAFKA_BOOTSTRAP": "k:1", "ABUSEWATCH_PARTITIONS": "8"})
    assert (kafka.bootstrap, kafka.partitions) == ("k:1", 8)
    assert config.load(IngestSettings, env={}).max_text_chars == 10_000
    try:
        config.load(KafkaSettings, env={"ABUSEWATCH_PARTITIONS": "many"})
    except ValueError as exc:
        assert "ABUSEWATCH_PARTITIONS" in str(exc)
    else:
        raise AssertionError("invalid integer accepted")
