"""Spend control: what a run may cost, what it is expected to cost, and what it did cost.

``rates`` (credits per machine-hour), ``periods`` (calendar day and month in a time zone), ``ledger``
(one immutable record per job run on the pipeline's object store), ``estimate`` (machine-seconds per
object learned from the pipeline's own jobs), ``limits`` (budgets, the allowance and the ceiling a
job gets), ``policy`` (the settings of one pipeline, JSON-able) and ``steps`` (the reusable steps
the DAG's tasks run: plan, reserve, account).
"""
