"""Each window's results as a Parquet table with one documented schema (``docs/results-table.md``).

``predictions`` reads Roboflow's result rows into one record per prediction, ``schema`` fixes the
columns, ``location`` where a window's files go (Hive-style partitions by pipeline and date), and
``writer`` writes a window's two files (predictions, failed objects) atomically.
"""
