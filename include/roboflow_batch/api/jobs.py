"""Workflow job definitions (docs/roboflow-api.md §3.2) and restart overrides (§3.4).

``WorkflowJobSpec.to_body`` produces exactly the body the official client sends: optional fields
that are None are omitted, ``persistImagesOutputs`` is always present, keys in the same order.
The same body must be sent on every retry of a job creation: the server compares it with the
stored definition and answers 409 when they differ.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from include.roboflow_batch.api.ids import validate_batch_id
from include.roboflow_batch.media import MediaType

MachineType = Literal["cpu", "gpu"]
AggregationFormat = Literal["csv", "jsonl"]
InferenceBackend = Literal["old-inference", "inference-models"]

JOB_TYPES: dict[str, str] = {
    "images": "simple-image-processing-v1",
    "videos": "simple-video-processing-v1",
}

_IMAGE_ONLY_FIELDS = ("images_metadata_part", "max_image_failure_rate", "images_metadata_inputs_mapping")
_VIDEO_ONLY_FIELDS = ("max_video_fps",)


def _without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _check_url(field: str, value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError(f"{field} must be an http(s) URL, got {value!r}")
    return value


BatchId = Annotated[str, AfterValidator(validate_batch_id)]
NotificationsUrl = Annotated[str | None, AfterValidator(lambda value: _check_url("notifications_url", value))]


class JobTuning(BaseModel):
    """The job options a pipeline may set in astro.yaml; None leaves the service's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    machine_type: MachineType | None = None
    workers_per_machine: int | None = Field(default=None, ge=1)
    max_parallel_tasks: int | None = Field(default=None, ge=1)
    max_image_failure_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    aggregation_format: AggregationFormat | None = None
    max_video_fps: float | None = Field(default=None, gt=0)
    images_outputs_to_be_persisted: list[str] | None = None
    inference_backend: InferenceBackend | None = None


class WorkflowJobSpec(JobTuning):
    """Every option of a workflow job over a staged batch of images or videos."""

    batch_id: BatchId
    workflow_id: str = Field(min_length=1)
    media_type: MediaType = "images"
    part_name: str | None = Field(default=None, min_length=1)
    images_metadata_part: str | None = Field(default=None, min_length=1)
    processing_timeout_seconds: int | None = Field(default=None, ge=1)
    workflow_parameters: dict[str, Any] | None = None
    image_input_name: str | None = Field(default=None, min_length=1)
    persist_images_outputs: bool = False
    images_metadata_inputs_mapping: dict[str, str] | None = None
    notifications_url: NotificationsUrl = None

    @field_validator("images_metadata_inputs_mapping")
    @classmethod
    def _valid_mapping(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for input_name, metadata_key in (value or {}).items():
            if not input_name or not metadata_key:
                raise ValueError(
                    "images_metadata_inputs_mapping needs non-empty workflow input names and metadata "
                    f"keys, got {input_name!r}: {metadata_key!r}"
                )
        return value

    @model_validator(mode="after")
    def _options_match_media_type(self) -> WorkflowJobSpec:
        misplaced = _VIDEO_ONLY_FIELDS if self.media_type == "images" else _IMAGE_ONLY_FIELDS
        for field in misplaced:
            if getattr(self, field) is not None:
                other = "videos" if self.media_type == "images" else "images"
                raise ValueError(
                    f"{field} applies to {other} jobs only, but media_type is {self.media_type!r}"
                )
        return self

    @property
    def job_type(self) -> str:
        return JOB_TYPES[self.media_type]

    def to_body(self, workspace: str) -> dict[str, Any]:
        """The JSON body of ``POST /jobs/{jobId}`` for this job in ``workspace``."""
        if not workspace:
            raise ValueError("workspace must not be empty")
        max_video_fps: float | int | None = self.max_video_fps
        if max_video_fps is not None and float(max_video_fps).is_integer():
            max_video_fps = int(max_video_fps)  # the official client sends whole numbers as ints
        return _without_none(
            {
                "type": self.job_type,
                "jobInput": _without_none(
                    {
                        "type": "staging-batch-input-v1",
                        "batchId": self.batch_id,
                        "partName": self.part_name,
                        "imagesMetadataPart": self.images_metadata_part,
                    }
                ),
                "computeConfiguration": _without_none(
                    {
                        "type": "compute-configuration-v2",
                        "machineType": self.machine_type,
                        "workersPerMachine": self.workers_per_machine,
                    }
                ),
                "processingTimeoutSeconds": self.processing_timeout_seconds,
                "maxParallelTasks": self.max_parallel_tasks,
                "maxImageFailureRate": self.max_image_failure_rate,
                "processingSpecification": _without_none(
                    {
                        "type": "workflows-processing-specification-v1",
                        "workspace": workspace,
                        "workflowId": self.workflow_id,
                        "workflowParameters": self.workflow_parameters,
                        "imageInputName": self.image_input_name,
                        "persistImagesOutputs": self.persist_images_outputs,
                        "imagesOutputsToBePersisted": self.images_outputs_to_be_persisted,
                        "aggregationFormat": self.aggregation_format,
                        "maxVideoFPS": max_video_fps,
                        "imagesMetadataInputsMapping": self.images_metadata_inputs_mapping,
                    }
                ),
                "notificationsURL": self.notifications_url,
                "inferenceBackend": self.inference_backend,
            }
        )


#: What a job runs on; every other field of ``WorkflowJobSpec`` is an option of the job.
JOB_SUBJECT_FIELDS = ("batch_id", "workflow_id", "media_type")
#: The job options, each a snake_case parameter of the start-job operator, in the spec's order.
JOB_OPTION_FIELDS: tuple[str, ...] = tuple(
    name for name in WorkflowJobSpec.model_fields if name not in JOB_SUBJECT_FIELDS
)


class RestartOverrides(BaseModel):
    """Parameters to change when restarting a failed or aborted job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    machine_type: MachineType | None = None
    workers_per_machine: int | None = Field(default=None, ge=1)
    max_parallel_tasks: int | None = Field(default=None, ge=1)
    processing_timeout_seconds: int | None = Field(default=None, ge=1)
    max_image_failure_rate: float | None = Field(default=None, ge=0.0, le=1.0)

    def to_body(self) -> dict[str, Any] | None:
        """The body of ``POST /jobs/{jobId}/restart``, or None (no body at all) without overrides."""
        compute = None
        if self.machine_type is not None or self.workers_per_machine is not None:
            compute = _without_none(
                {
                    "type": "compute-configuration-v2",
                    "machineType": self.machine_type,
                    "workersPerMachine": self.workers_per_machine,
                }
            )
        overrides = _without_none(
            {
                "computeConfiguration": compute,
                "maxParallelTasks": self.max_parallel_tasks,
                "processingTimeoutSeconds": self.processing_timeout_seconds,
                "maxImageFailureRate": self.max_image_failure_rate,
            }
        )
        if not overrides:
            return None
        return {"type": "parameters-override-v1", **overrides}
