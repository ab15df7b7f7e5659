"""What the project adds to the Airflow API server and UI: the Roboflow view, its run tab, and the
fix-ups that make the connection Test button work for ``roboflow`` connections."""
