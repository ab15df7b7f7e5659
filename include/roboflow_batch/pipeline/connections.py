"""Which Airflow connection reads references files and writes exports of a pipeline."""

from __future__ import annotations

from include.roboflow_batch.pipeline.schema import GCSSource, LocalSource, PipelineConfig, S3Source


def source_conn_for(pipeline: PipelineConfig, template: str) -> str | None:
    """The source's connection when ``template`` is on the source's kind of storage, else None.

    An S3-compatible store (moto, MinIO, R2) is only reachable through the connection that names
    its endpoint, so a references file or export folder in the same storage uses that connection.
    """
    source = pipeline.source
    if isinstance(source, S3Source) and template.startswith("s3://"):
        return source.conn_id
    if isinstance(source, GCSSource) and template.startswith("gs://"):
        return source.conn_id
    return None


def references_conn_id(pipeline: PipelineConfig) -> str | None:
    source = pipeline.source
    if isinstance(source, LocalSource):
        return None
    return source.references_conn_id or source_conn_for(pipeline, source.references_uri)


def export_conn_id(pipeline: PipelineConfig) -> str | None:
    return pipeline.export.conn_id or source_conn_for(pipeline, pipeline.export.destination)
