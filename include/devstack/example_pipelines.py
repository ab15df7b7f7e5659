"""The pipelines of the example stacks (``make demo``, ``make up``) as astro.yaml text.

Both stacks run the same two pipelines: camera frames dropped into S3 and store frames dropped into
GCS, sent by signed URL to the emulator's bright-spot workflow. Each stack names its own pipelines,
connections and buckets.
"""

from __future__ import annotations

from pathlib import Path


def example_pipelines_yaml(
    stack: str, pipeline_ids: tuple[str, str], buckets: tuple[str, str], cadence: str, references_dir: Path
) -> str:
    """The ``pipelines:`` section of a stack whose connections are ``{stack}_s3``, ``{stack}_gcs`` and
    ``{stack}_gcs_signer``; ``cadence`` says how often frames arrive ("every hour")."""

    def bucket_pipeline(pipeline_id: str, frames: str, kind: str, bucket: str, prefix: str) -> str:
        # GCS signs URLs with its own service-account connection; S3 signs with the reading one.
        signing = f"\n      signing_conn_id: {stack}_gcs_signer" if kind == "gcs" else ""
        return f"""\
  - id: {pipeline_id}
    description: {frames} dropped into {kind.upper()} {cadence}.
    source:
      kind: {kind}
      conn_id: {stack}_{kind}{signing}
      bucket: {bucket}
      prefix: {prefix}
      url_expiry: 2h
      references_uri: {references_dir}/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}.jsonl
    workflow: {{id: bright-spot-detector}}
"""

    (cameras_id, stores_id), (s3_bucket, gcs_bucket) = pipeline_ids, buckets
    cameras = bucket_pipeline(cameras_id, "Camera frames", "s3", s3_bucket, "cameras/")
    stores = bucket_pipeline(stores_id, "Store frames", "gcs", gcs_bucket, "stores/")
    return f"pipelines:\n{cameras}\n{stores}"
