"""A ledger on a temporary folder and a policy to go with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.spend.ledger import SpendLedger
from include.roboflow_batch.spend.policy import GroupBudget, SpendPolicy
from include.roboflow_batch.spend.rates import Rates


@pytest.fixture
def ledger(tmp_path: Path) -> SpendLedger:
    return SpendLedger(tmp_path / "spend")


def policy(pipeline: str = "cams", **overrides: Any) -> SpendPolicy:
    """One credit per machine-second on CPU, to keep the arithmetic readable."""
    values: dict[str, Any] = {
        "pipeline_id": pipeline,
        "media_type": "images",
        "ledger_uri": "unused",
        "rates": Rates(cpu=3600.0, gpu=14400.0),
        "cold_start_seconds_per_object": 1.0,
    }
    values.update(overrides)
    return SpendPolicy(**values)


def group(name: str = "vision", **budgets: Any) -> GroupBudget:
    return GroupBudget(name=name, **budgets)
