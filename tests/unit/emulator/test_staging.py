"""Data Staging behaviour: uploads, reference ingests, shards, per-file failures, signed URLs."""

from __future__ import annotations

import io
import json
import tarfile
import time

import httpx

from include.roboflow_emulator.config import MAX_IMAGE_BYTES
from tests.unit.emulator.conftest import DS, Api, FileServer, WebhookReceiver, mp4, png


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_workspace_lookup_and_unknown_key(api: Api) -> None:
    assert api.get("/").json() == {"workspace": "demo-workspace"}
    response = api.http.get("/", params={"api_key": "wrong"})
    assert response.status_code == 401
    assert "api_key" in response.json()["error"]
    assert api.get("/data-staging/v1/external/other-ws/batches").status_code == 401


def test_single_upload_accepts_any_field_name_and_serves_signed_download(api: Api) -> None:
    image = png()
    response = api.post(
        f"{DS}/batches/single/upload/image",
        params={"fileName": "a.png", "displayName": "Single"},
        files={"whatever-field": ("a.png", image)},
    )
    assert response.status_code == 200, response.text
    batch = api.get(f"{DS}/batches/single").json()["batch"]
    assert batch["batchType"] == "simple-batch" and batch["displayName"] == "Single"
    assert batch["createdDate"].endswith("Z") and batch["expiryDate"] > batch["createdDate"]
    assert api.get(f"{DS}/batches/single/count").json() == {"count": 1}
    listing = api.get(f"{DS}/batches/single/list").json()
    assert listing["nextPageToken"] is None
    (entry,) = listing["filesMetadata"]
    assert entry["fileName"] == "a.png" and entry["contentType"] == "images"
    assert httpx.get(entry["downloadURL"]).content == image
    tampered = entry["downloadURL"].replace("Signature=", "Signature=0")
    assert httpx.get(tampered).status_code == 403


def test_expired_download_url_is_refused(make_emulator) -> None:
    api = Api(make_emulator(signed_url_ttl=0))
    api.post(f"{DS}/batches/b1/upload/image", params={"fileName": "a.png"}, files={"a.png": png()})
    url = api.get(f"{DS}/batches/b1/list").json()["filesMetadata"][0]["downloadURL"]
    time.sleep(1.1)
    response = httpx.get(url)
    assert response.status_code == 403 and "expired" in response.json()["error"]


def test_oversize_single_upload_is_rejected_with_the_service_message(api: Api) -> None:
    big = png() + b"\0" * (MAX_IMAGE_BYTES + 1)
    response = api.post(f"{DS}/batches/big/upload/image", params={"fileName": "big.png"}, files={"f": big})
    assert response.status_code == 400
    assert "Max size of single image is 20971520B." in response.json()["error"]
    assert api.get(f"{DS}/batches/big").status_code == 404


def test_single_and_bulk_uploads_cannot_be_mixed(api: Api, file_server: FileServer) -> None:
    api.post(f"{DS}/batches/mixed/upload/image", params={"fileName": "a.png"}, files={"a.png": png()})
    response = api.post(f"{DS}/batches/mixed/bulk-upload/image-files")
    assert response.status_code == 400 and "cannot be mixed" in response.json()["error"]
    response = api.post(
        f"{DS}/batches/mixed/bulk-upload/image-references",
        json={"imageReferences": [file_server.ref("x.png", png())]},
    )
    assert response.status_code == 400


def test_bad_batch_id_is_rejected(api: Api) -> None:
    response = api.post(f"{DS}/batches/Bad.Id/upload/image", params={"fileName": "a.png"}, files={"a": png()})
    assert response.status_code == 400 and "batchId" in response.json()["error"]


def test_reference_ingest_indexes_asynchronously_with_per_file_failures(
    make_emulator, file_server: FileServer
) -> None:
    api = Api(make_emulator(ingest_delay=0.3))
    refs = [file_server.ref(f"ok-{i}.png", png(color=(i, i, i))) for i in range(3)]
    refs.append(file_server.ref("missing.png"))
    refs.append(file_server.ref("text.png", b"this is not an image"))
    refs.append(file_server.ref("huge.png", b"\0" * (MAX_IMAGE_BYTES + 10)))
    refs.append({"name": "far.png", "url": "https://untrusted.example.com/far.png?sig=1"})
    response = api.post(
        f"{DS}/batches/refs/bulk-upload/image-references", json={"imageReferences": refs, "ingestId": "ing-1"}
    )
    body = response.json()
    assert response.status_code == 200 and body["ingestId"] == "ing-1" and body["duplicated"] is False
    shards = api.get(f"{DS}/batches/refs/shards").json()["shards"]
    assert [s["shardId"] for s in shards] == body["shardIds"]
    assert shards[0]["statusType"] == "info"
    assert api.get(f"{DS}/batches/refs/count").json()["count"] == 0
    (shard,) = api.wait_indexed("refs")
    assert shard["statusType"] == "warning" and shard["shardObjectsCount"] == 3
    meta = shard["statusMetadata"]
    assert meta["ingestId"] == "ing-1" and meta["expectedFiles"] == 7 and meta["ingestedFiles"] == 3
    failures = {f["fileName"]: f for f in meta["failedFiles"]}
    assert failures["missing.png"]["type"] == "file-not-reachable"
    assert failures["text.png"]["type"] == "unsupported-file-type"
    assert failures["huge.png"] == {
        "fileName": "huge.png",
        "type": "file-size-limit-exceeded",
        "reason": "Max size of single image is 20971520B.",
    }
    assert failures["far.png"]["type"] == "unsafe-url-detected"
    assert "sig=" not in failures["far.png"]["reason"]
    assert api.get(f"{DS}/batches/refs/count").json()["count"] == 3
    assert api.get(f"{DS}/batches/refs").json()["batch"]["batchType"] == "sharded-batch"


def test_repeated_ingest_id_is_reported_duplicated_and_changes_nothing(
    api: Api, file_server: FileServer
) -> None:
    body = {"imageReferences": [file_server.ref("a.png", png())], "ingestId": "same"}
    first = api.post(f"{DS}/batches/dup/bulk-upload/image-references", json=body).json()
    second = api.post(f"{DS}/batches/dup/bulk-upload/image-references", json=body).json()
    assert second == {"ingestId": "same", "duplicated": True, "shardIds": first["shardIds"]}
    assert len(api.get(f"{DS}/batches/dup/shards").json()["shards"]) == 1


def test_reference_limits_and_validation(api: Api) -> None:
    too_many = [{"name": f"{i}.png", "url": f"http://127.0.0.1:1/{i}.png"} for i in range(20_001)]
    response = api.post(f"{DS}/batches/lim/bulk-upload/image-references", json={"imageReferences": too_many})
    assert response.status_code == 400 and "20000" in response.json()["error"]
    videos = [{"name": f"{i}.mp4", "url": f"http://127.0.0.1:1/{i}.mp4"} for i in range(5_001)]
    response = api.post(f"{DS}/batches/limv/bulk-upload/video-references", json={"videoReferences": videos})
    assert response.status_code == 400 and "5000" in response.json()["error"]
    response = api.post(
        f"{DS}/batches/lim/bulk-upload/image-references", json={"imageReferences": [{"name": "a.png"}]}
    )
    assert response.status_code == 400 and "imageReferences[0].url" in response.json()["error"]
    assert api.get(f"{DS}/batches/lim").status_code == 404


def test_references_by_url_are_fetched_from_a_jsonl_file(api: Api, file_server: FileServer) -> None:
    lines = [json.dumps(file_server.ref(f"{i}.png", png())) for i in range(300)]
    file_server.files["/refs.jsonl"] = "\n".join(lines).encode()
    response = api.post(
        f"{DS}/batches/byurl/bulk-upload/image-references",
        json={"imageReferencesURL": f"{file_server.url}/refs.jsonl?sig=1"},
    )
    assert len(response.json()["shardIds"]) == 2  # 256 per shard
    shards = api.wait_indexed("byurl")
    assert all(s["statusType"] == "success" for s in shards)
    assert api.get(f"{DS}/batches/byurl/count").json()["count"] == 300


def test_bulk_tar_upload_needs_the_extension_headers(api: Api, webhook_receiver: WebhookReceiver) -> None:
    details = api.post(f"{DS}/batches/tars/bulk-upload/image-files").json()["signedURLDetails"]
    config = {"ingestId": "tar-1", "notificationsURL": webhook_receiver.url}
    archive = _tar(
        {
            "a.png": png(),
            "b.png": png(),
            "notes.txt": b"x",
            "notification_config.json": json.dumps(config).encode(),
        }
    )
    assert httpx.put(details["uploadURL"], content=archive).status_code == 403
    response = httpx.put(details["uploadURL"], content=archive, headers=details["extensionHeaders"])
    assert response.status_code == 200
    (shard,) = api.wait_indexed("tars")
    assert shard["statusMetadata"]["ingestId"] == "tar-1"
    assert shard["statusMetadata"]["ingestedFiles"] == 2
    assert [f["fileName"] for f in shard["statusMetadata"]["failedFiles"]] == ["notes.txt"]
    api.wait_for(lambda: len(webhook_receiver.received) >= 2)
    kinds = {body["notification"]["type"] for body in webhook_receiver.events()}
    assert kinds == {"ingest-files-status-notification-v1", "ingest-status-notification-v1"}


def test_video_upload_through_signed_url(api: Api) -> None:
    response = api.post(f"{DS}/batches/vids/upload/video", params={"fileName": "clip.mp4"})
    details = response.json()["signedURLDetails"]
    assert (
        httpx.put(details["uploadURL"], content=b"video", headers=details["extensionHeaders"]).status_code
        == 200
    )
    assert api.get(f"{DS}/batches/vids").json()["batch"]["batchContentType"] == "videos"
    assert api.get(f"{DS}/batches/vids/count").json()["count"] == 1
    response = api.post(f"{DS}/batches/vids/upload/image", params={"fileName": "a.png"}, files={"a": png()})
    assert response.status_code == 400 and "videos" in response.json()["error"]


def test_batches_and_shards_are_paginated(api: Api, file_server: FileServer) -> None:
    for i in range(5):
        api.post(f"{DS}/batches/p-{i}/upload/image", params={"fileName": "a.png"}, files={"a": png()})
    seen, token = [], None
    while True:
        params = {"pageSize": 2} | ({"nextPageToken": token} if token else {})
        page = api.get(f"{DS}/batches", params=params).json()
        assert "nextPageToken" in page
        seen += [b["batchId"] for b in page["batches"]]
        token = page["nextPageToken"]
        if token is None:
            break
    assert seen == [f"p-{i}" for i in range(5)]
    assert api.get(f"{DS}/batches", params={"nextPageToken": "garbage"}).status_code == 400


def test_reference_ingest_webhooks_and_redelivery(
    api: Api, file_server: FileServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.failures_before_success = 1
    body = {
        "imageReferences": [file_server.ref("a.png", png()), file_server.ref("gone.png")],
        "ingestId": "hooked",
        "notificationsURL": webhook_receiver.url,
        "notificationCategories": ["ingest-status", "files-status"],
    }
    api.post(f"{DS}/batches/hooks/bulk-upload/image-references", json=body)
    api.wait_for(
        lambda: (
            len({b["event_id"] for b in webhook_receiver.events()}) == 2
            and len(webhook_receiver.received) >= 3
        )
    )
    for headers, _ in webhook_receiver.received:
        assert headers["authorization"] == "rf_pub_demo"
    by_event: dict[str, list[dict]] = {}
    for event in webhook_receiver.events():
        by_event.setdefault(event["event_id"], []).append(event)
    attempts = sorted([e["delivery_attempt"] for e in events] for events in by_event.values())
    assert [1, 2] in attempts  # the first delivery got a 500 and was redelivered with the same event_id
    files = next(e for e in webhook_receiver.events() if e["notification"]["type"].startswith("ingest-files"))
    assert files["type"] == "roboflow-data-staging-notification-v1" and files["batch_id"] == "hooks"
    assert files["notification"]["ingested_files"] == ["a.png"]
    assert files["notification"]["failed_files"][0]["file_name"] == "gone.png"
    status = next(
        e for e in webhook_receiver.events() if e["notification"]["type"].startswith("ingest-status")
    )
    assert status["shard_id"] is None and status["notification"]["success"] is True


def test_tars_sharing_one_ingest_id_each_become_a_shard(api: Api) -> None:
    """The official client writes the same ingest id into every tar of one local upload."""
    config = json.dumps({"ingestId": "shared", "notificationsURL": "http://127.0.0.1:9/none"}).encode()
    for names in (["a.png", "b.png"], ["c.png"]):
        details = api.post(f"{DS}/batches/two-tars/bulk-upload/image-files").json()["signedURLDetails"]
        archive = _tar({**{n: png() for n in names}, "notification_config.json": config})
        httpx.put(details["uploadURL"], content=archive, headers=details["extensionHeaders"])
        # A repeated PUT of the same tar adds nothing.
        httpx.put(details["uploadURL"], content=archive, headers=details["extensionHeaders"])
    shards = api.wait_indexed("two-tars")
    assert sorted(s["shardObjectsCount"] for s in shards) == [1, 2]
    assert {s["statusMetadata"]["ingestId"] for s in shards} == {"shared"}
    assert api.get(f"{DS}/batches/two-tars/count").json()["count"] == 3


def test_roboql_ingest_selects_staged_images(api: Api) -> None:
    for name in ("cat-1.png", "cat-2.png", "dog-1.png"):
        api.post(f"{DS}/batches/source/upload/image", params={"fileName": name}, files={name: png()})
    response = api.post(f"{DS}/batches/cats/roboql-ingest", json={"query": "batch:source name:cat-*"})
    assert response.status_code == 200
    api.wait_indexed("cats")
    assert api.get(f"{DS}/batches/cats/count").json()["count"] == 2
    response = api.post(f"{DS}/batches/cats2/roboql-ingest", json={"query": "project:x"})
    assert response.status_code == 400 and "batch:<batch-id>" in response.json()["error"]


def test_video_references_make_one_shard_per_video(api: Api, file_server: FileServer) -> None:
    refs = [file_server.ref("clip.mp4", mp4()), file_server.ref("notes.txt", b"text")]
    response = api.post(
        f"{DS}/batches/vid-refs/bulk-upload/video-references",
        json={"videoReferences": refs, "ingestId": "v1"},
    )
    assert response.json() == {"ingestId": "v1", "duplicated": False}
    shards = api.wait_indexed("vid-refs")
    assert sorted(s["statusType"] for s in shards) == ["error", "success"]
    failed = [f for s in shards for f in s["statusMetadata"]["failedFiles"]]
    assert [(f["fileName"], f["type"]) for f in failed] == [("notes.txt", "unsupported-file-type")]
    batch = api.get(f"{DS}/batches/vid-refs").json()["batch"]
    assert (batch["batchType"], batch["batchContentType"]) == ("sharded-batch", "videos")
