"""One Airflow DAG per pipeline in astro.yaml (``$ROBOFLOW_PIPELINES_FILE`` overrides the path).

The DAGs are built by ``include.roboflow_batch.pipeline.factory``; mistakes in astro.yaml are
reported by ``roboflow_pipeline_problems.py`` so that one bad pipeline does not hide the others.
"""

from include.roboflow_batch.pipeline.factory import register_pipelines

register_pipelines(globals())
