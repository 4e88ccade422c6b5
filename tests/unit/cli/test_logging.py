"""Logs: one JSON object a line with the role and ids as fields (ABUSEWATCH_LOG_FORMAT=json, the
default), or one text line (text); an unknown format is refused with a clear error."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from abusewatch.cli import main as cli


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_role_level_message_and_ids_as_fields(capsys):
    cli.configure_logging("info", "json", "actions")
    logging.getLogger("abusewatch.test").info("sent %s", "a-1", extra={"action_id": "a-1", "partition": 3})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("abusewatch.test").exception("failed")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["role"] == "actions" and first["level"] == "INFO" and first["logger"] == "abusewatch.test"
    assert first["message"] == "sent a-1" and first["action_id"] == "a-1" and first["partition"] == 3
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc_info"]


def test_text_lines_name_the_role(capsys):
    cli.configure_logging("info", "text", "detector")
    logging.getLogger("abusewatch.test").warning("late")
    line = capsys.readouterr().err.strip()
    assert " WARNING detector abusewatch.test: late" in line and not line.startswith("{")


def test_an_unknown_log_format_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "abusewatch.cli.main", "config"], capture_output=True, text=True,
        env={"ABUSEWATCH_LOG_FORMAT": "xml", "PATH": ""},
    )
    assert result.returncode == 2
    assert "ABUSEWATCH_LOG_FORMAT must be one of json, text, not 'xml'" in result.stderr
