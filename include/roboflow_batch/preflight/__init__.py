"""Pre-flight checks: what would only show after money is spent, checked before anything is staged.

``report`` (results and the failure message), ``addresses`` (is an endpoint reachable from the
internet, as Roboflow's fetchers are), ``storage`` (a location is writable: a marker written and
deleted), ``source`` (the source lists, and a sample of its signed URLs is fetchable the way
Roboflow fetches them), ``roboflow`` (the key, Batch Processing on the workspace, credits).
"""
