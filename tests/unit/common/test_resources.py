"""abusewatch.common.resources: the one place that finds the schemas, the model and the policy."""

from pathlib import Path

import pytest

from abusewatch.ingest import contract

from abusewatch.common import resources
from abusewatch.scoring.model import artifact

ROOT = Path(__file__).resolve().parents[3]


def test_a_source_checkout_finds_the_top_level_folders():
    assert resources.shipped_root() == ROOT
    assert contract.SCHEMA_DIR == ROOT / "schemas"
    assert artifact.DEFAULT_MODEL_DIR == ROOT / "models" / "abusewatch-minilm"
    assert resources.model_dir() == artifact.DEFAULT_MODEL_DIR


def test_an_installed_wheel_layout_wins_over_the_source_tree(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "abusewatch"
    (package / "_shipped").mkdir(parents=True)
    monkeypatch.setattr(resources.importlib.resources, "files", lambda name: package)
    resources.shipped_root.cache_clear()
    try:
        assert resources.shipped_root() == package / "_shipped"
    finally:
        resources.shipped_root.cache_clear()


def test_schema_dir_comes_from_the_setting_and_a_missing_one_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ABUSEWATCH_SCHEMA_DIR", str(ROOT / "schemas"))
    assert resources.schema_dir() == ROOT / "schemas"
    monkeypatch.setenv("ABUSEWATCH_SCHEMA_DIR", str(tmp_path))
    with pytest.raises(resources.ResourceMissing) as missing:
        resources.schema_dir()
    assert str(tmp_path / "posts.v1.json") in str(missing.value)
    assert "ABUSEWATCH_SCHEMA_DIR" in str(missing.value)


def test_a_missing_model_is_a_clear_error_before_torch_loads_anything(tmp_path):
    with pytest.raises(resources.ResourceMissing, match="ABUSEWATCH_MODEL_DIR") as missing:
        artifact.load_artifact(tmp_path / "no-model")
    assert str(tmp_path / "no-model" / "abusewatch.json") in str(missing.value)


def test_relative_paths_look_in_the_working_directory_then_among_the_shipped_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.shipped_or_local("policy/default.yaml") == ROOT / "policy" / "default.yaml"
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "default.yaml").write_text("local")
    assert resources.shipped_or_local("policy/default.yaml") == Path("policy/default.yaml")
    assert resources.shipped_or_local("nowhere.yaml") == Path("nowhere.yaml")


@pytest.mark.parametrize(
    ("role", "env", "value"),
    [
        ("classifier", "ABUSEWATCH_MODEL_DIR", "no-model"),
        ("api", "ABUSEWATCH_MODEL_DIR", "no-model"),
        ("actions", "ABUSEWATCH_POLICY_FILE", "no-policy.yaml"),
        ("detector", "ABUSEWATCH_SCHEMA_DIR", "no-schemas"),
    ],
)
def test_the_startup_check_names_the_missing_path_and_its_setting(role, env, value, tmp_path, monkeypatch):
    from abusewatch.services.serve import check_resources

    check_resources(role)  # everything shipped is there
    monkeypatch.setenv(env, str(tmp_path / value))
    with pytest.raises(resources.ResourceMissing) as missing:
        check_resources(role)
    assert env in str(missing.value) and str(tmp_path / value) in str(missing.value)
