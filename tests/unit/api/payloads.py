"""Minimal valid API payloads (the contract's required keys, camelCase)."""

from __future__ import annotations

from typing import Any

TS = "2026-11-28T12:00:00Z"


def batch(batch_id: str = "b1", **extra: Any) -> dict[str, Any]:
    return {
        "displayName": batch_id,
        "batchId": batch_id,
        "batchType": "simple-batch",
        "batchContentType": "images",
        "createdDate": TS,
        "expiryDate": "2026-12-05T12:00:00+00:00",
        **extra,
    }


def job(job_id: str = "j1", **extra: Any) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "name": job_id,
        "jobDefinition": {"type": "simple-image-processing-v1"},
        "currentStage": "processing",
        "plannedStages": ["processing", "export"],
        "error": False,
        "isTerminal": False,
        "lastNotification": None,
        "createdAt": TS,
        "lastUpdate": TS,
        "restartParametersOverride": [],
        **extra,
    }


def stage(name: str = "export") -> dict[str, Any]:
    return {
        "processingStageId": name,
        "processingStageName": name,
        "tasksNumber": 1,
        "outputBatches": [f"j1-{name}"],
        "startTimestamp": TS,
        "notification": {"type": "info"},
        "statusType": "success",
        "lastEventTimestamp": TS,
    }


def task(task_id: str = "t1") -> dict[str, Any]:
    return {
        "taskId": task_id,
        "notification": "ok",
        "statusType": "info",
        "progress": 0.5,
        "eventTimestamp": TS,
    }


def log(severity: str = "info") -> dict[str, Any]:
    return {
        "createdAt": TS,
        "processingStageId": None,
        "taskId": None,
        "severity": severity,
        "reportingModule": "worker",
        "logType": "progress",
        "payload": {"n": 1},
    }


def shard(shard_id: str = "s1") -> dict[str, Any]:
    return {
        "shardId": shard_id,
        "statusName": "done",
        "statusType": "success",
        "eventTimestamp": TS,
        "shardObjectsCount": 3,
        "statusMetadata": {"ingestId": "i1", "expectedFiles": 3, "ingestedFiles": 3, "failedFiles": []},
    }


def file(name: str = "a.jsonl") -> dict[str, Any]:
    return {
        "downloadURL": f"https://storage.example.test/{name}?X-Goog-Signature=deadbeef",
        "fileName": name,
        "contentType": "metadata",
        "partName": "p1",
        "shardId": "s1",
    }


SIGNED = {
    "signedURLDetails": {
        "uploadURL": "https://storage.example.test/up?X-Goog-Signature=cafe",
        "extensionHeaders": {"x-goog-meta-a": "1"},
    }
}
