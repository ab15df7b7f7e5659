"""With 30 % of calls faulted, 200 mixed calls end with correct results and no duplicated writes."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.api import ServerError, TransportError, WorkflowJobSpec
from include.roboflow_batch.api.ids import derive_ingest_id, derive_job_id
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.api.conftest import api_requests, png, wait_for
from tests.unit.api.client_drivers import ClientDriver

pytestmark = pytest.mark.integration

UPLOAD_ROUTE = "POST /data-staging/v1/external/{workspace}/batches/{batchId}/upload/image"
CONCURRENCY = 16


async def _run_all(calls: list[tuple[str, tuple, dict]], live: ClientDriver) -> list[Any]:
    """Run the calls concurrently; return each result or the exception it raised."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str, args: tuple, kwargs: dict) -> Any:
        async with gate:
            try:
                return await live.call_in_parallel(name, *args, **kwargs)
            except Exception as error:  # collected and checked by the test
                return error

    return await asyncio.gather(*(one(*call) for call in calls))


async def test_mixed_calls_survive_faults_without_duplicate_writes(
    live: ClientDriver, emulator: EmulatorHandle, file_server: tuple[str, Path]
) -> None:
    base, root = file_server
    for i in range(4):
        await live.call("upload_image", "src", f"img{i}.png", png(i))
        (root / f"ref{i}.png").write_bytes(png(10 + i))

    async def src_staged() -> bool:
        return await live.call("count_batch", "src") == 4

    await wait_for(src_staged)
    workspace = await live.call("get_workspace")
    body = WorkflowJobSpec(batch_id="src", workflow_id="image-stats").to_body(workspace)
    job_ids = [derive_job_id("faults", str(n)) for n in range(30)]
    ref_batches = {f"refs-{n}": 1 + n % 4 for n in range(40)}
    uploads_before = api_requests(emulator)[UPLOAD_ROUTE]
    emulator.set_faults(
        rate=0.3, statuses=[429, 500, 502, 503], dropRate=0.03, dropAfterWriteRate=0.1, seed=7
    )

    phase_one: list[tuple[str, tuple, dict]] = []
    phase_one += [("create_job", (job_id, body), {}) for job_id in job_ids]
    phase_one += [
        (
            "ingest_image_references",
            (batch_id,),
            {
                "ingest_id": derive_ingest_id(batch_id, 0),
                "references": [{"name": f"r{k}.png", "url": f"{base}/ref{k}.png"} for k in range(count)],
            },
        )
        for batch_id, count in ref_batches.items()
    ]
    phase_one += [("upload_image", ("uploads", f"u{n}.png", png(n)), {}) for n in range(20)]
    phase_one += [("count_batch", ("src",), {})] * 10
    random.Random(1).shuffle(phase_one)
    results_one = await _run_all(phase_one, live)

    phase_two: list[tuple[str, tuple, dict]] = []
    phase_two += [("get_job", (job_id,), {}) for job_id in job_ids]
    phase_two += [("create_job", (job_id, body), {}) for job_id in job_ids[:10]]  # a task retried
    phase_two += [("get_batch", ("src",), {})] * 15
    phase_two += [("iter_batch_files", ("src",), {"page_size": 2})] * 15
    phase_two += [("list_job_stages", (job_id,), {}) for job_id in job_ids[:20]]
    phase_two += [("iter_job_logs", (job_id,), {}) for job_id in job_ids[20:30]]
    random.Random(2).shuffle(phase_two)
    results_two = await _run_all(phase_two, live)
    assert len(phase_one) + len(phase_two) == 200

    # Every call that is safe to repeat ended with its correct result.
    for (name, args, _), result in zip(phase_one + phase_two, results_one + results_two, strict=True):
        if name == "upload_image":
            continue
        assert not isinstance(result, Exception), f"{name}{args[:1]} failed: {result!r}"
        if name == "count_batch":
            assert result == 4
        elif name == "get_job":
            assert result.job_id == args[0] and result.job_definition == body
        elif name == "get_batch":
            assert result.batch_id == "src"
        elif name == "iter_batch_files":
            assert sorted(f.file_name for f in result) == [f"img{i}.png" for i in range(4)]
        elif name == "iter_job_logs":
            assert result and result[0].log_type == "job-created"
        elif name == "ingest_image_references":
            assert result.ingest_id == derive_ingest_id(args[0], 0)

    # Image uploads carry no id: they fail on ambiguous faults instead of risking a duplicate.
    upload_results = [
        r for (name, _, _), r in zip(phase_one, results_one, strict=True) if name == "upload_image"
    ]
    assert all(r is None or isinstance(r, ServerError | TransportError) for r in upload_results)
    succeeded = sum(r is None for r in upload_results)

    state = emulator.state()
    emulator.clear_faults()
    faults = state["faultsInjected"]
    assert sum(faults.values()) > 40, faults  # the faults really happened
    assert state["jobCreations"] == dict.fromkeys(job_ids, 1)
    assert api_requests(emulator)[UPLOAD_ROUTE] - uploads_before == 20 + faults.get(f"429 {UPLOAD_ROUTE}", 0)

    async def all_indexed() -> bool:
        batches = emulator.state()["batches"]
        return all(batches.get(b, {}).get("fileCount") == n for b, n in ref_batches.items())

    await wait_for(all_indexed)
    batches = emulator.state()["batches"]
    for batch_id in ref_batches:
        assert batches[batch_id]["ingestIds"] == [derive_ingest_id(batch_id, 0)]
    uploaded = [f.file_name for f in await live.call("iter_batch_files", "uploads")] if succeeded else []
    assert len(uploaded) == len(set(uploaded)) and succeeded <= len(uploaded) <= 20
    assert Counter(uploaded) == Counter(set(uploaded))
