"""Reports mistakes in astro.yaml as one Airflow DAG import error naming each pipeline and field.

The valid pipelines still get their DAGs from ``roboflow_pipelines.py``.
"""

from include.roboflow_batch.pipeline.factory import raise_pipeline_problems

raise_pipeline_problems()
