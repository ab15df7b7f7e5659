"""Reads the emulator's resulting state, independently of the CLI under test.

The contract tests drive the official CLI, then look at what the emulator holds through its public
API (as any client would) and its read-only `/__emulator__/state` endpoint. Waiting for asynchronous
work (indexing, job stages) also happens here, so that the CLI is only called when its output is
deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class EmulatorProbe:
    def __init__(self, base_url: str, api_key: str, workspace: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.workspace = workspace
        self._http = httpx.Client(timeout=10.0)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(
            self.base_url + path,
            params={"api_key": self.api_key, **{k: v for k, v in params.items() if v is not None}},
        )
        response.raise_for_status()
        return response.json()

    def _staging(self, path: str, **params: Any) -> Any:
        return self._get(f"/data-staging/v1/external/{self.workspace}{path}", **params)

    def _processing(self, path: str, **params: Any) -> Any:
        return self._get(f"/batch-processing/v1/external/{self.workspace}{path}", **params)

    # -- control endpoints -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        response = self._http.get(self.base_url + "/__emulator__/state")
        response.raise_for_status()
        return response.json()

    # -- data staging ------------------------------------------------------------------------
    def upload_image(self, batch_id: str, path: Path) -> None:
        """Stage one image the way D7 documents it (set-up for tests that need batches to exist)."""
        response = self._http.post(
            f"{self.base_url}/data-staging/v1/external/{self.workspace}/batches/{batch_id}/upload/image",
            params={"api_key": self.api_key, "fileName": path.name, "displayName": batch_id},
            files={path.name: (path.name, path.read_bytes())},
        )
        response.raise_for_status()

    def all_batches(self) -> list[dict[str, Any]]:
        batches: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._staging("/batches", nextPageToken=token)
            batches.extend(page["batches"])
            token = page.get("nextPageToken")
            if not token:
                return batches

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self._staging(f"/batches/{batch_id}")["batch"]

    def count(self, batch_id: str, part_name: str | None = None) -> int:
        return int(self._staging(f"/batches/{batch_id}/count", partName=part_name)["count"])

    def parts(self, batch_id: str) -> list[dict[str, Any]]:
        return self._staging(f"/batches/{batch_id}/parts")["batchParts"]

    def files(self, batch_id: str, part_name: str | None = None) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._staging(f"/batches/{batch_id}/list", partName=part_name, nextPageToken=token)
            files.extend(page["filesMetadata"])
            token = page.get("nextPageToken")
            if not token:
                return files

    def shards(self, batch_id: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._staging(f"/batches/{batch_id}/shards", nextPageToken=token)
            shards.extend(page["shards"])
            token = page.get("nextPageToken")
            if not token:
                return shards

    def wait_until_indexed(self, batch_id: str, expected: int, timeout: float = 20.0) -> list[dict]:
        """Wait until the batch holds `expected` files and no shard is still indexing."""
        seen: dict[str, Any] = {}

        def ready() -> list[dict] | None:
            try:
                seen["count"] = self.count(batch_id)
                seen["shards"] = shards = self.shards(batch_id)
            except httpx.HTTPStatusError as error:
                seen["error"] = str(error)
                return None
            if seen["count"] < expected or any(s["statusType"] == "info" for s in shards):
                return None
            return shards

        try:
            return wait_for(ready, timeout, f"batch {batch_id} to hold {expected} indexed files")
        except AssertionError as error:
            raise AssertionError(f"{error}; last seen: {seen}") from None

    # -- batch processing --------------------------------------------------------------------
    def create_image_job(self, job_id: str, batch_id: str, workflow_id: str) -> None:
        """Start a job with the minimal body the CLI sends (set-up for listing tests)."""
        body = {
            "type": "simple-image-processing-v1",
            "jobInput": {"type": "staging-batch-input-v1", "batchId": batch_id},
            "computeConfiguration": {"type": "compute-configuration-v2"},
            "processingSpecification": {
                "type": "workflows-processing-specification-v1",
                "workspace": self.workspace,
                "workflowId": workflow_id,
                "persistImagesOutputs": False,
            },
        }
        response = self._http.post(
            f"{self.base_url}/batch-processing/v1/external/{self.workspace}/jobs/{job_id}",
            params={"api_key": self.api_key},
            json=body,
        )
        response.raise_for_status()

    def all_jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._processing("/jobs", nextPageToken=token)
            jobs.extend(page["jobs"])
            token = page.get("nextPageToken")
            if not token:
                return jobs

    def job(self, job_id: str) -> dict[str, Any]:
        return self._processing(f"/jobs/{job_id}")["job"]

    def stages(self, job_id: str) -> list[dict[str, Any]]:
        return self._processing(f"/jobs/{job_id}/stages")["stages"]

    def tasks(self, job_id: str, stage_id: str) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._processing(f"/jobs/{job_id}/stages/{stage_id}/tasks", nextPageToken=token)
            tasks.extend(page["tasks"])
            token = page.get("nextPageToken")
            if not token:
                return tasks

    def wait_for_job(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the job is terminal; returns its metadata."""

        def terminal() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["isTerminal"] else None

        return wait_for(terminal, timeout, f"job {job_id} to finish")

    def wait_for_stage(self, job_id: str, stage_name: str, timeout: float = 30.0) -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            return self.job(job_id) if self.job(job_id).get("currentStage") == stage_name else None

        return wait_for(running, timeout, f"job {job_id} to enter stage {stage_name}")

    def output_batches(self, job_id: str) -> dict[str, list[str]]:
        return {s["processingStageName"]: list(s["outputBatches"]) for s in self.stages(job_id)}


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
