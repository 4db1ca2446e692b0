"""Logging set-up in one place: plain text for people, JSON lines for log pipelines."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import orjson

from proxy.recording.redact import RedactingFilter

__all__ = ["JsonFormatter", "configure_logging", "logging_config"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline never has to parse free text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def logging_config(level: str = "INFO", json_logs: bool = False) -> dict[str, Any]:
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if json_logs
        else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        # Every line passes the redactor, so a message that quotes a request cannot leak a
        # key, a token or an email address into the logs.
        "filters": {"redact": {"()": RedactingFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {"aiohttp.access": {"level": "WARNING"}},
    }


def configure_logging(level: str = "INFO", json_logs: bool = False) -> None:
    logging.config.dictConfig(logging_config(level, json_logs))
