"""The installed package's version: recorded in fit.json, report.md and every MLflow run's tags, so a
result always says which transfer-laws made it."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("transfer-laws")
except PackageNotFoundError:  # a source tree that was never installed
    VERSION = "0+unknown"
