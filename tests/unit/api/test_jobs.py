from __future__ import annotations

import pytest
from pydantic import ValidationError

from include.roboflow_batch.api import RestartOverrides, WorkflowJobSpec


def test_minimal_image_job_matches_the_official_client_body() -> None:
    body = WorkflowJobSpec(batch_id="my-batch", workflow_id="my-wf").to_body("ws")

    # Observed from `inference rf-cloud batch-processing process-images-with-workflow -b my-batch -w my-wf`.
    assert body == {
        "type": "simple-image-processing-v1",
        "jobInput": {"type": "staging-batch-input-v1", "batchId": "my-batch"},
        "computeConfiguration": {"type": "compute-configuration-v2"},
        "processingSpecification": {
            "type": "workflows-processing-specification-v1",
            "workspace": "ws",
            "workflowId": "my-wf",
            "persistImagesOutputs": False,
        },
    }


def test_every_image_option_reaches_the_body() -> None:
    spec = WorkflowJobSpec(
        batch_id="b",
        workflow_id="wf",
        part_name="part",
        images_metadata_part="meta",
        machine_type="gpu",
        workers_per_machine=2,
        processing_timeout_seconds=3600,
        max_parallel_tasks=4,
        max_image_failure_rate=0.05,
        workflow_parameters={"confidence": 0.4},
        image_input_name="image",
        persist_images_outputs=True,
        images_outputs_to_be_persisted=["viz"],
        aggregation_format="jsonl",
        images_metadata_inputs_mapping={"camera": "camera_id"},
        notifications_url="https://hooks.example.test/rf",
        inference_backend="inference-models",
    )

    body = spec.to_body("ws")

    assert list(body) == [
        "type",
        "jobInput",
        "computeConfiguration",
        "processingTimeoutSeconds",
        "maxParallelTasks",
        "maxImageFailureRate",
        "processingSpecification",
        "notificationsURL",
        "inferenceBackend",
    ]
    assert body["jobInput"] == {
        "type": "staging-batch-input-v1",
        "batchId": "b",
        "partName": "part",
        "imagesMetadataPart": "meta",
    }
    assert body["computeConfiguration"] == {
        "type": "compute-configuration-v2",
        "machineType": "gpu",
        "workersPerMachine": 2,
    }
    assert body["processingSpecification"] == {
        "type": "workflows-processing-specification-v1",
        "workspace": "ws",
        "workflowId": "wf",
        "workflowParameters": {"confidence": 0.4},
        "imageInputName": "image",
        "persistImagesOutputs": True,
        "imagesOutputsToBePersisted": ["viz"],
        "aggregationFormat": "jsonl",
        "imagesMetadataInputsMapping": {"camera": "camera_id"},
    }
    assert (body["processingTimeoutSeconds"], body["maxParallelTasks"], body["maxImageFailureRate"]) == (
        3600,
        4,
        0.05,
    )


@pytest.mark.parametrize(("fps", "sent"), [(5, 5), (2.0, 2), (0.5, 0.5)])
def test_video_jobs_send_max_video_fps(fps: float, sent: float) -> None:
    body = WorkflowJobSpec(batch_id="v", workflow_id="wf", media_type="videos", max_video_fps=fps).to_body(
        "ws"
    )

    assert body["type"] == "simple-video-processing-v1"
    assert body["processingSpecification"]["maxVideoFPS"] == sent
    assert type(body["processingSpecification"]["maxVideoFPS"]) is type(sent)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"media_type": "videos", "max_image_failure_rate": 0.1}, "max_image_failure_rate applies to images"),
        ({"media_type": "videos", "images_metadata_part": "m"}, "images_metadata_part applies to images"),
        ({"max_video_fps": 5}, "max_video_fps applies to videos jobs only"),
        (
            {"max_image_failure_rate": 1.5},
            "max_image_failure_rate\n  Input should be less than or equal to 1",
        ),
        ({"machine_type": "tpu"}, "machine_type\n  Input should be 'cpu' or 'gpu'"),
        ({"aggregation_format": "xml"}, "aggregation_format"),
        ({"inference_backend": "new"}, "inference_backend"),
        ({"workers_per_machine": 0}, "workers_per_machine\n  Input should be greater than or equal to 1"),
        ({"batch_id": "Bad Batch"}, "batch_id 'Bad Batch' contains characters"),
        ({"notifications_url": "hooks.example"}, "notifications_url must be an http"),
        ({"images_metadata_inputs_mapping": {"camera": ""}}, "non-empty workflow input names"),
        ({"media_type": "audio"}, "media_type"),
        ({"worker_count": 3}, "worker_count\n  Extra inputs are not permitted"),
    ],
)
def test_invalid_options_are_rejected_naming_the_field(kwargs: dict, message: str) -> None:
    arguments = {"batch_id": "b", "workflow_id": "wf", **kwargs}
    with pytest.raises(ValidationError, match=message):
        WorkflowJobSpec(**arguments)


def test_restart_without_overrides_sends_no_body() -> None:
    assert RestartOverrides().to_body() is None


def test_restart_overrides_body() -> None:
    assert RestartOverrides(workers_per_machine=2, processing_timeout_seconds=600).to_body() == {
        "type": "parameters-override-v1",
        "computeConfiguration": {"type": "compute-configuration-v2", "workersPerMachine": 2},
        "processingTimeoutSeconds": 600,
    }
    assert RestartOverrides(max_parallel_tasks=3).to_body() == {
        "type": "parameters-override-v1",
        "maxParallelTasks": 3,
    }
    with pytest.raises(ValidationError, match="max_image_failure_rate"):
        RestartOverrides(max_image_failure_rate=-0.1)
