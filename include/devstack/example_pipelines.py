"""The pipelines of the example stacks (``make demo``, ``make up``) as astro.yaml text.

Both stacks run the same two pipelines: camera frames dropped into S3 and store frames dropped into
GCS, sent by signed URL to the emulator's bright-spot workflow. Each stack names its own pipelines;
its name prefixes its connections and buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: ``defaults`` lines both stacks share: their stand-ins listen on loopback, which Roboflow could
#: never reach (a warning there, not a failure: docs/costs.md), and a budget to show spend control.
STAND_IN_DEFAULTS = """\
  preflight: {private_endpoints: warn}
  cost: {max_credits_per_run: 5, budget: {day: 50, month: 500}}
"""


@dataclass(frozen=True)
class ExamplePipelines:
    """The two pipelines of the stack ``stack`` (connections ``{stack}_s3``, ``{stack}_gcs`` and
    ``{stack}_gcs_signer``); ``cadence`` says how often frames arrive ("every hour")."""

    stack: str
    pipeline_ids: tuple[str, str]  # the S3 one, the GCS one
    cadence: str

    @property
    def s3_bucket(self) -> str:
        return f"{self.stack}-camera-frames"

    @property
    def gcs_bucket(self) -> str:
        return f"{self.stack}-store-frames"

    def yaml(self, references_dir: Path) -> str:
        """The ``pipelines:`` section; references files go under ``references_dir``."""
        cameras_id, stores_id = self.pipeline_ids
        cameras = self._bucket_pipeline(
            cameras_id, "Camera frames", "s3", self.s3_bucket, "cameras/", references_dir
        )
        stores = self._bucket_pipeline(
            stores_id, "Store frames", "gcs", self.gcs_bucket, "stores/", references_dir
        )
        return f"pipelines:\n{cameras}\n{stores}"

    def _bucket_pipeline(
        self, pipeline_id: str, frames: str, kind: str, bucket: str, prefix: str, references_dir: Path
    ) -> str:
        # GCS signs URLs with its own service-account connection; S3 signs with the reading one.
        signing = f"\n      signing_conn_id: {self.stack}_gcs_signer" if kind == "gcs" else ""
        return f"""\
  - id: {pipeline_id}
    description: {frames} dropped into {kind.upper()} {self.cadence}.
    source:
      kind: {kind}
      conn_id: {self.stack}_{kind}{signing}
      bucket: {bucket}
      prefix: {prefix}
      url_expiry: 2h
      references_uri: {references_dir}/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}.jsonl
    workflow: {{id: bright-spot-detector}}
"""
