"""The Roboflow view inside the Airflow UI, its tab on each DAG run, and the connection-Test fix-up.

The view is an *external view* served by this project's FastAPI app on the API server (rendered in
the UI's iframe, same origin, behind Airflow's login), not a React bundle: it needs no JavaScript
build, and every number is computed next to the metadata DB in a few queries.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.roboflow_batch.webui.app import RUN_TAB_ROUTE, URL_PREFIX, create_view_app
from include.roboflow_batch.webui.connection_test import RoboflowConnectionTestMiddleware


class RoboflowUIPlugin(AirflowPlugin):
    name = "roboflow_ui"
    fastapi_apps = [{"app": create_view_app(), "url_prefix": URL_PREFIX, "name": "Roboflow view"}]
    fastapi_root_middlewares = [
        {
            "middleware": RoboflowConnectionTestMiddleware,
            "args": [],
            "kwargs": {},
            "name": "Roboflow connection test",
        }
    ]
    external_views = [
        {
            "name": "Roboflow",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "roboflow",
            "category": "browse",
            "icon": f"{URL_PREFIX}/icon.svg",
        },
        {
            "name": "Roboflow",
            "href": URL_PREFIX + "/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": RUN_TAB_ROUTE,
        },
    ]
