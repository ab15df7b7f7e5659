"""Repairs: re-process only the objects of a window that failed or have no result, in a child batch
and job, and merge the outcome into the window's manifest (``selection``, ``merge``)."""
