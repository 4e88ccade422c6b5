"""Settings for training and evaluating the abuse model."""

from __future__ import annotations

from pathlib import Path

from abusewatch.config import setting, settings_class

_REPO = Path(__file__).resolve().parents[2]


@settings_class
class ModelSettings:
    """Where the labelled datasets are and how much CPU training and evaluation may use."""

    datasets_dir: str = setting(
        "ABUSEWATCH_DATASETS_DIR",
        str(_REPO.parent / "shared" / "datasets"),
        "Labelled abuse datasets read by `abusewatch train` and `abusewatch eval` (never copied into the repo).",
    )
    torch_threads: int = setting(
        "ABUSEWATCH_TORCH_THREADS_TRAIN",
        2,
        "CPU threads torch may use in `abusewatch train` and `abusewatch eval` (the dev machines are shared).",
    )
