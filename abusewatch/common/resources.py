"""Where the shipped files are: the JSON Schemas, the model artifact and the default policy.

They live at the repository's top level (schemas/, models/, policy/: the public contract). A wheel
carries them inside the package as abusewatch/_shipped/ (pyproject.toml maps the folders), so a
source checkout, an editable install and a regular install each find them here, and nowhere else.
Settings override each one; a missing file is a `ResourceMissing` naming the path and the setting.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from abusewatch.common import config
from abusewatch.common.config import setting, settings_class

SHIPPED_MODEL = Path("models") / "abusewatch-minilm"
MODEL_MANIFEST = "abusewatch.json"
# The schema every topic needs first (contract.py reads it at import); its presence marks the folder.
MARKER_SCHEMA = "posts.v1.json"


@settings_class
class ResourceSettings:
    """Where the JSON Schemas are read from (the model and policy have their own settings)."""

    schema_dir: str = setting(
        "ABUSEWATCH_SCHEMA_DIR",
        "",
        "Folder of the topic and policy JSON Schemas; empty means the shipped schemas/, in a source "
        "checkout or an installed wheel alike.",
    )


class ResourceMissing(FileNotFoundError):
    """A file the service needs is not where the settings say; the message names both."""


@functools.cache
def shipped_root() -> Path:
    """The folder holding schemas/, models/ and policy/: abusewatch/_shipped in an installed wheel,
    else the source tree the package is imported from."""
    package = Path(str(importlib.resources.files("abusewatch")))
    installed = package / "_shipped"
    return installed if installed.is_dir() else package.parent


def require(path: Path, env: str, what: str) -> Path:
    if not path.exists():
        raise ResourceMissing(
            f"{what} not found: {path} does not exist. Set {env} to its location (empty means the "
            f"shipped one, under {shipped_root()})."
        )
    return path


def schema_dir() -> Path:
    """ABUSEWATCH_SCHEMA_DIR, else the shipped schemas/; raises ResourceMissing without its schemas."""
    configured = config.load(ResourceSettings).schema_dir
    folder = Path(configured) if configured else shipped_root() / "schemas"
    require(folder / MARKER_SCHEMA, "ABUSEWATCH_SCHEMA_DIR", "JSON Schemas")
    return folder


def model_dir(configured: str | Path = "") -> Path:
    """A model artifact directory (ABUSEWATCH_MODEL_DIR; empty: the shipped model), checked."""
    folder = Path(configured) if configured else shipped_root() / SHIPPED_MODEL
    require(folder / MODEL_MANIFEST, "ABUSEWATCH_MODEL_DIR", "model artifact")
    return folder


def shipped_or_local(path: str | Path) -> Path:
    """A relative path is looked up in the working directory, then among the shipped files, so a
    default such as policy/default.yaml works wherever the service starts; absolute paths as given."""
    path = Path(path)
    if path.is_absolute() or path.exists() or not (shipped_root() / path).exists():
        return path
    return shipped_root() / path
