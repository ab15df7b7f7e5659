"""Validation of job definitions (B3) and restart overrides (B7), with 400 messages naming the field."""

from __future__ import annotations

import re
from typing import Any

from include.roboflow_emulator.errors import ApiError, bad_request

JOB_ID_PATTERN = re.compile(r"^[a-z0-9_-]{1,20}$")
IMAGE_JOB = "simple-image-processing-v1"
VIDEO_JOB = "simple-video-processing-v1"
TRT_JOB = "trt-compilation-v1"
JOB_TYPES = (IMAGE_JOB, VIDEO_JOB, TRT_JOB)
MACHINE_TYPES = ("cpu", "gpu")
AGGREGATION_FORMATS = ("csv", "jsonl")
INFERENCE_BACKENDS = ("old-inference", "inference-models")
TRT_DEVICES = ("nvidia-l4", "nvidia-t4", "nvidia-l40s")


def validate_job_id(job_id: str) -> str:
    if not JOB_ID_PATTERN.match(job_id):
        raise bad_request(
            f"jobId {job_id!r} is invalid: use 1-20 characters of lower-case letters, digits, '-' and '_'."
        )
    return job_id


def _object(value: Any, where: str, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object.")
    return value


def _string(obj: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise bad_request(f"{where}.{key} is required.")
        return None
    if not isinstance(value, str) or not value:
        raise bad_request(f"{where}.{key} must be a non-empty string, got {value!r}.")
    return value


def _enum(
    obj: dict[str, Any], key: str, where: str, allowed: tuple[str, ...], required: bool = False
) -> None:
    value = obj.get(key)
    if value is None and not required:
        return
    if value not in allowed:
        raise bad_request(f"{where}.{key} must be one of {list(allowed)}, got {value!r}.")


def _positive_int(obj: dict[str, Any], key: str, where: str) -> None:
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request(f"{where}.{key} must be a positive integer, got {value!r}.")


def _positive_number(obj: dict[str, Any], key: str, where: str) -> None:
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise bad_request(f"{where}.{key} must be a positive number, got {value!r}.")


def _failure_rate(obj: dict[str, Any], where: str) -> None:
    value = obj.get("maxImageFailureRate")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise bad_request(f"{where}.maxImageFailureRate must be between 0.0 and 1.0, got {value!r}.")


def _compute(body: dict[str, Any], where: str) -> None:
    compute = _object(body.get("computeConfiguration"), f"{where}.computeConfiguration")
    _enum(compute, "type", f"{where}.computeConfiguration", ("compute-configuration-v2",), required=True)
    _enum(compute, "machineType", f"{where}.computeConfiguration", MACHINE_TYPES)
    _positive_int(compute, "workersPerMachine", f"{where}.computeConfiguration")


def validate_job_definition(body: Any, workspace: str) -> None:
    """Raise a 400 ApiError naming the first invalid field of a B3 body."""
    body = _object(body, "body")
    _enum(body, "type", "body", JOB_TYPES, required=True)
    _string(body, "notificationsURL", "body")
    if body["type"] == TRT_JOB:
        model_id = _string(body, "modelId", "body", required=True) or ""
        if model_id.count("/") != 1 or not all(model_id.split("/")):
            raise bad_request(f"body.modelId must look like '<project>/<version>', got {model_id!r}.")
        devices = body.get("compilationDevices")
        if not isinstance(devices, list) or not devices or any(d not in TRT_DEVICES for d in devices):
            raise bad_request(
                f"body.compilationDevices must be a non-empty list drawn from {list(TRT_DEVICES)}."
            )
        return
    job_input = _object(body.get("jobInput"), "body.jobInput")
    _enum(job_input, "type", "body.jobInput", ("staging-batch-input-v1",), required=True)
    _string(job_input, "batchId", "body.jobInput", required=True)
    _string(job_input, "partName", "body.jobInput")
    _string(job_input, "imagesMetadataPart", "body.jobInput")
    _compute(body, "body")
    _positive_int(body, "processingTimeoutSeconds", "body")
    _positive_int(body, "maxParallelTasks", "body")
    _failure_rate(body, "body")
    _enum(body, "inferenceBackend", "body", INFERENCE_BACKENDS)
    spec = _object(body.get("processingSpecification"), "body.processingSpecification")
    where = "body.processingSpecification"
    _enum(spec, "type", where, ("workflows-processing-specification-v1",), required=True)
    spec_workspace = _string(spec, "workspace", where, required=True)
    if spec_workspace != workspace:
        raise bad_request(
            f"{where}.workspace is {spec_workspace!r}, but this API key belongs to {workspace!r}."
        )
    _string(spec, "workflowId", where, required=True)
    _object(spec.get("workflowParameters"), f"{where}.workflowParameters", required=False)
    _string(spec, "imageInputName", where)
    if "persistImagesOutputs" in spec and not isinstance(spec["persistImagesOutputs"], bool):
        raise bad_request(f"{where}.persistImagesOutputs must be true or false.")
    outputs = spec.get("imagesOutputsToBePersisted")
    if outputs is not None and (
        not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs)
    ):
        raise bad_request(f"{where}.imagesOutputsToBePersisted must be a list of output names.")
    _enum(spec, "aggregationFormat", where, AGGREGATION_FORMATS)
    _positive_number(spec, "maxVideoFPS", where)
    mapping = spec.get("imagesMetadataInputsMapping")
    if mapping is not None and (
        not isinstance(mapping, dict) or not all(isinstance(v, str) and v for v in mapping.values())
    ):
        raise bad_request(f"{where}.imagesMetadataInputsMapping must map input names to metadata keys.")


def validate_restart_overrides(body: Any) -> dict[str, Any] | None:
    if body is None:
        return None
    body = _object(body, "body")
    _enum(body, "type", "body", ("parameters-override-v1",), required=True)
    if "computeConfiguration" in body:
        _compute(body, "body")
    _positive_int(body, "maxParallelTasks", "body")
    _positive_number(body, "processingTimeoutSeconds", "body")
    _failure_rate(body, "body")
    known = {
        "type",
        "computeConfiguration",
        "maxParallelTasks",
        "processingTimeoutSeconds",
        "maxImageFailureRate",
    }
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request(f"Unknown restart override fields {unknown}; allowed: {sorted(known - {'type'})}.")
    return body


def effective_settings(definition: dict[str, Any], overrides: list[dict[str, Any]]) -> dict[str, Any]:
    """The run settings of a job: its definition with every restart override applied in order."""
    settings: dict[str, Any] = {
        "processingTimeoutSeconds": definition.get("processingTimeoutSeconds"),
        "maxParallelTasks": definition.get("maxParallelTasks"),
        "maxImageFailureRate": definition.get("maxImageFailureRate"),
        "computeConfiguration": dict(definition.get("computeConfiguration") or {}),
    }
    for override in overrides:
        for key in ("processingTimeoutSeconds", "maxParallelTasks", "maxImageFailureRate"):
            if override.get(key) is not None:
                settings[key] = override[key]
        if override.get("computeConfiguration"):
            settings["computeConfiguration"].update(override["computeConfiguration"])
    return settings


def payment_required(workspace: str) -> ApiError:
    return ApiError(
        402,
        f"Batch processing is not enabled for workspace {workspace!r}: it needs a Growth or Enterprise plan.",
    )
