"""Settings for training and evaluating the abuse model."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class ModelSettings:
    """Where the labelled datasets are and how much CPU `abusewatch train` and `abusewatch eval` use."""

    datasets_dir: str = setting(
        "ABUSEWATCH_DATASETS_DIR",
        "../shared/datasets",
        "Labelled abuse datasets read by `abusewatch train` and `abusewatch eval` (never copied into the "
        "repo); a relative path is taken from the repository root.",
    )
    torch_threads: int = setting(
        "ABUSEWATCH_TRAIN_THREADS", 2, "CPU threads torch uses in `abusewatch train` and `abusewatch eval`."
    )
