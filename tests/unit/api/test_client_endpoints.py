"""Each endpoint: the exact request both clients send and the typed result they return."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from include.roboflow_batch.api import RestartOverrides
from include.roboflow_batch.api.models import (
    BatchMetadata,
    BatchPart,
    FileMetadata,
    IngestResult,
    JobLog,
    JobMetadata,
    JobStage,
    ShardDetails,
    SignedURLDetails,
    TaskStatus,
)
from tests.unit.api import payloads
from tests.unit.api.client_drivers import ClientDriver
from tests.unit.api.conftest import API_KEY

DS = "/data-staging/v1/external/ws"
BP = "/batch-processing/v1/external/ws"


@dataclass
class Case:
    method_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    http_method: str
    path: str
    response: Any
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    check: Any = None


REFS = [{"name": "a.jpg", "url": "https://s.example.test/a.jpg?sig=1"}]

CASES = [
    Case(
        "get_batch",
        ("b1",),
        {},
        "GET",
        f"{DS}/batches/b1",
        {"batch": payloads.batch()},
        check=lambda r: isinstance(r, BatchMetadata) and r.batch_id == "b1" and r.created_date.tzinfo,
    ),
    Case(
        "count_batch",
        ("b1",),
        {"part_name": "p1"},
        "GET",
        f"{DS}/batches/b1/count",
        {"count": 7},
        params={"partName": "p1"},
        check=lambda r: r == 7,
    ),
    Case(
        "list_batch_parts",
        ("b1",),
        {},
        "GET",
        f"{DS}/batches/b1/parts",
        {
            "batchParts": [
                {
                    "partName": "p1",
                    "partType": "simple-batch",
                    "contentType": "archives",
                    "nestedContentType": "metadata",
                }
            ]
        },
        check=lambda r: isinstance(r[0], BatchPart) and r[0].nested_content_type == "metadata",
    ),
    Case(
        "iter_batch_files",
        ("b1",),
        {"part_name": "p1", "page_size": 2},
        "GET",
        f"{DS}/batches/b1/list",
        {"filesMetadata": [payloads.file()], "nextPageToken": None},
        params={"partName": "p1", "pageSize": "2"},
        check=lambda r: isinstance(r[0], FileMetadata) and r[0].download_url.startswith("https://"),
    ),
    Case(
        "iter_shards",
        ("b1",),
        {"page_size": 5},
        "GET",
        f"{DS}/batches/b1/shards",
        {"shards": [payloads.shard()]},
        params={"pageSize": "5"},
        check=lambda r: isinstance(r[0], ShardDetails) and r[0].status_metadata["ingestedFiles"] == 3,
    ),
    Case(
        "upload_image",
        ("b1", "x.jpg", b"\xff\xd8data"),
        {},
        "POST",
        f"{DS}/batches/b1/upload/image",
        {"status": "ok"},
        params={"displayName": "b1", "fileName": "x.jpg"},
        check=lambda r: r is None,
    ),
    Case(
        "request_video_upload",
        ("b1", "v.mp4"),
        {"display_name": "Videos"},
        "POST",
        f"{DS}/batches/b1/upload/video",
        payloads.SIGNED,
        params={"fileName": "v.mp4", "displayName": "Videos"},
        check=lambda r: isinstance(r, SignedURLDetails) and r.extension_headers == {"x-goog-meta-a": "1"},
    ),
    Case(
        "request_bulk_image_upload",
        ("b1",),
        {},
        "POST",
        f"{DS}/batches/b1/bulk-upload/image-files",
        payloads.SIGNED,
        params={"displayName": "b1"},
        check=lambda r: isinstance(r, SignedURLDetails),
    ),
    Case(
        "ingest_image_references",
        ("b1",),
        {
            "ingest_id": "i1",
            "references": REFS,
            "notifications_url": "https://hook.example.test/x",
            "notification_categories": ["ingest-status", "files-status"],
        },
        "POST",
        f"{DS}/batches/b1/bulk-upload/image-references",
        {"ingestId": "i1", "shardIds": ["s1"], "duplicated": False},
        params={"displayName": "b1"},
        body={
            "imageReferences": REFS,
            "ingestId": "i1",
            "notificationsURL": "https://hook.example.test/x",
            "notificationCategories": ["ingest-status", "files-status"],
        },
        check=lambda r: isinstance(r, IngestResult) and r.shard_ids == ["s1"],
    ),
    Case(
        "ingest_video_references",
        ("b1",),
        {"ingest_id": "i2", "references_url": "https://s.example.test/r.jsonl"},
        "POST",
        f"{DS}/batches/b1/bulk-upload/video-references",
        {"ingestId": "i2", "duplicated": True},
        params={"displayName": "b1"},
        body={"videoReferencesURL": "https://s.example.test/r.jsonl", "ingestId": "i2"},
        check=lambda r: r.duplicated and r.shard_ids == [],
    ),
    Case(
        "roboql_ingest",
        ("b1", "project:x"),
        {"ingest_id": "i3", "display_name": "Q"},
        "POST",
        f"{DS}/batches/b1/roboql-ingest",
        "",
        body={"query": "project:x", "displayName": "Q", "ingestId": "i3"},
        check=lambda r: r is None,
    ),
    Case(
        "get_job",
        ("j1",),
        {},
        "GET",
        f"{BP}/jobs/j1",
        {"job": payloads.job()},
        check=lambda r: (
            isinstance(r, JobMetadata) and not r.succeeded and r.planned_stages == ["processing", "export"]
        ),
    ),
    Case(
        "create_job",
        ("j1", {"type": "simple-image-processing-v1"}),
        {"name": "Nightly"},
        "POST",
        f"{BP}/jobs/j1",
        "",
        params={"name": "Nightly"},
        body={"type": "simple-image-processing-v1"},
        check=lambda r: r is None,
    ),
    Case(
        "list_job_stages",
        ("j1",),
        {},
        "GET",
        f"{BP}/jobs/j1/stages",
        {"stages": [payloads.stage()]},
        check=lambda r: isinstance(r[0], JobStage) and r[0].output_batches == ["j1-export"],
    ),
    Case(
        "iter_stage_tasks",
        ("j1", "processing"),
        {},
        "GET",
        f"{BP}/jobs/j1/stages/processing/tasks",
        {"tasks": [payloads.task()], "nextPageToken": None},
        check=lambda r: isinstance(r[0], TaskStatus),
    ),
    Case(
        "abort_job",
        ("j1",),
        {},
        "POST",
        f"{BP}/jobs/j1/abort",
        {"status": "ok"},
        check=lambda r: r == {"status": "ok"},
    ),
    Case(
        "restart_job",
        ("j1",),
        {},
        "POST",
        f"{BP}/jobs/j1/restart",
        {"status": "ok"},
        body=None,
        check=lambda r: r == {"status": "ok"},
    ),
    Case(
        "restart_job",
        ("j1", RestartOverrides(machine_type="gpu", max_image_failure_rate=0.1)),
        {},
        "POST",
        f"{BP}/jobs/j1/restart",
        {"status": "ok"},
        body={
            "type": "parameters-override-v1",
            "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "gpu"},
            "maxImageFailureRate": 0.1,
        },
        check=lambda r: r == {"status": "ok"},
    ),
    Case(
        "iter_job_logs",
        ("j1",),
        {"severity": "error"},
        "GET",
        f"{BP}/jobs/j1/logs",
        {"logs": [payloads.log("error")]},
        params={"severity": "error"},
        check=lambda r: isinstance(r[0], JobLog) and r[0].severity == "error",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method_name}-{i}" for i, c in enumerate(CASES)])
async def test_endpoint_request_and_result(case: Case, driver: ClientDriver, api: respx.MockRouter) -> None:
    content = case.response if isinstance(case.response, str) else json.dumps(case.response)
    route = api.route(method=case.http_method, path=case.path).mock(
        return_value=httpx.Response(200, text=content)
    )

    result = await driver.call(case.method_name, *case.args, **case.kwargs)

    assert case.check(result), result
    assert route.call_count == 1
    request = route.calls.last.request
    assert dict(request.url.params) == {"api_key": API_KEY, **case.params}
    if case.method_name == "upload_image":
        # The official client names the multipart field after the file.
        assert b'name="x.jpg"; filename="x.jpg"' in request.content
        assert b"\xff\xd8data" in request.content
    elif case.body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == case.body


async def test_workspace_is_looked_up_once(bare_driver: ClientDriver, api: respx.MockRouter) -> None:
    root = api.get("/").mock(return_value=httpx.Response(200, json={"workspace": "ws", "other": 1}))
    api.get(f"{DS}/batches/b1/count").mock(return_value=httpx.Response(200, json={"count": 1}))

    assert await bare_driver.call("count_batch", "b1") == 1
    assert await bare_driver.call("count_batch", "b1") == 1
    assert await bare_driver.call("get_workspace") == "ws"
    assert root.call_count == 1
    assert dict(root.calls.last.request.url.params) == {"api_key": API_KEY}


async def test_iterators_follow_next_page_token(driver: ClientDriver, api: respx.MockRouter) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("nextPageToken")
        if token is None:
            return httpx.Response(
                200, json={"batches": [payloads.batch("b1"), payloads.batch("b2")], "nextPageToken": "t2"}
            )
        if token == "t2":
            return httpx.Response(200, json={"batches": [payloads.batch("b3")], "nextPageToken": "t3"})
        return httpx.Response(200, json={"batches": [], "nextPageToken": None})

    route = api.get(f"{DS}/batches").mock(side_effect=page)

    batches = await driver.call("iter_batches", page_size=2)

    assert [b.batch_id for b in batches] == ["b1", "b2", "b3"]
    assert route.call_count == 3
    assert [c.request.url.params.get("pageSize") for c in route.calls] == ["2", "2", "2"]


async def test_iterator_stops_on_a_repeated_page_token(driver: ClientDriver, api: respx.MockRouter) -> None:
    from include.roboflow_batch.api import ResponseDecodeError

    api.get(f"{BP}/jobs").mock(
        return_value=httpx.Response(200, json={"jobs": [payloads.job()], "nextPageToken": "same"})
    )

    with pytest.raises(ResponseDecodeError, match="repeated page token"):
        await driver.call("iter_jobs")


async def test_reference_ingest_gets_twice_the_timeout(api: respx.MockRouter) -> None:
    from tests.unit.api.client_drivers import make_client

    driver = make_client("sync", "https://api.example.test", API_KEY, workspace="ws", timeout=7.0)
    ingest = api.post(f"{DS}/batches/b1/bulk-upload/image-references").mock(
        return_value=httpx.Response(200, json={"ingestId": "i1"})
    )
    count = api.get(f"{DS}/batches/b1/count").mock(return_value=httpx.Response(200, json={"count": 0}))

    await driver.call("ingest_image_references", "b1", ingest_id="i1", references=REFS)
    await driver.call("count_batch", "b1")

    assert ingest.calls.last.request.extensions["timeout"]["read"] == 14.0
    assert count.calls.last.request.extensions["timeout"]["read"] == 7.0


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_unreachable_host_is_given_up_on_sooner_than_a_slow_answer(
    kind: str, api: respx.MockRouter
) -> None:
    # A dropped SYN would otherwise hold a worker for the whole (default 60 s) timeout per attempt.
    from tests.unit.api.client_drivers import make_client

    driver = make_client(kind, "https://api.example.test", API_KEY, workspace="ws", timeout=60.0)
    count = api.get(f"{DS}/batches/b1/count").mock(return_value=httpx.Response(200, json={"count": 0}))

    await driver.call("count_batch", "b1")
    await driver.close()

    timeout = count.calls.last.request.extensions["timeout"]
    assert timeout["connect"] == 10.0
    assert timeout["read"] == 60.0
