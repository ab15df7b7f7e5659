"""Worker processes are sized by the cores this process may use, not by the host's core count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from include.roboflow_batch import cores


@pytest.fixture
def cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No cgroup files until a test writes them; the process may run on 8 cores."""
    monkeypatch.setattr(cores, "CGROUP_V2_MAX", tmp_path / "cpu.max")
    monkeypatch.setattr(cores, "CGROUP_V1_QUOTA", tmp_path / "cfs_quota_us")
    monkeypatch.setattr(cores, "CGROUP_V1_PERIOD", tmp_path / "cfs_period_us")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    return tmp_path


def test_affinity_counts_when_there_is_no_quota(cgroup: Path) -> None:
    assert cores.cgroup_cpu_quota() is None
    assert cores.usable_cores() == 8
    (cgroup / "cpu.max").write_text("max 100000\n")
    assert cores.usable_cores() == 8


@pytest.mark.parametrize(
    ("quota", "expected"), [("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)]
)
def test_a_cgroup_v2_quota_caps_the_cores(cgroup: Path, quota: str, expected: int) -> None:
    (cgroup / "cpu.max").write_text(quota + "\n")
    assert cores.usable_cores() == expected


def test_a_cgroup_v1_quota_caps_the_cores(cgroup: Path) -> None:
    (cgroup / "cfs_quota_us").write_text("300000\n")
    (cgroup / "cfs_period_us").write_text("100000\n")
    assert cores.cgroup_cpu_quota() == 3.0
    assert cores.usable_cores() == 3
    (cgroup / "cfs_quota_us").write_text("-1\n")
    assert cores.usable_cores() == 8


def test_unreadable_quota_files_are_ignored(cgroup: Path) -> None:
    (cgroup / "cpu.max").write_text("garbage\n")
    assert cores.usable_cores() == 8
    (cgroup / "cpu.max").write_text("100000 0\n")
    assert cores.usable_cores() == 8
