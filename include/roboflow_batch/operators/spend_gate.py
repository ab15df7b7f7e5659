"""The spend gate: before anything is staged, estimate the window, check it against the budgets, and
reserve the machine time each job may spend, or let a person decide, or stop.

Within budget: one reservation per job (``include.roboflow_batch.spend.steps.reserve``), whose
ceiling the job is created with (``processingTimeoutSeconds``). Over budget: ``on_over_budget:
fail`` fails here, naming the estimate, the budget and the object count; ``approve`` waits for a
person in Airflow's human-in-the-loop "Required actions" (the estimate and the object count in the
request): Approve reserves up to the credits the person approves, Reject, or no answer in time,
skips every later step of the run (nothing is staged; the run ends successful, see docs/costs.md).
A dry run reports the plan and skips every later step too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from include.roboflow_batch import lineage
from include.roboflow_batch.spend.policy import SpendPolicy
from include.roboflow_batch.spend.steps import OverBudgetError, SpendPlan, plan_window, reserve

if TYPE_CHECKING:
    from airflow.sdk import Context

APPROVED_CREDITS_PARAM = "max_credits"
#: XCom key of the window's spend plan (estimate, limits, ceilings), pushed before any decision.
SPEND_PLAN_XCOM_KEY = "spend_plan"


def _approval_amount(plan: SpendPlan) -> float:
    """What the form offers: the estimate, rounded up to two significant figures."""
    credits = max(plan.estimate_credits, 1e-6)
    scale = 10 ** (math.floor(math.log10(credits)) - 1)
    return math.ceil(credits / scale) * scale


class SpendGateOperator(lineage.StepLineage, ApprovalOperator):
    """
    Estimate, check and reserve the spending of a window (see the module docstring).

    :param policy: the pipeline's ``SpendPolicy`` as a dict.
    :param chunks: the window's chunks (``plan_chunks``' return value: ``index``, ``job_id``, ``count``).
    :param run_plan: the ``plan`` task's return value (window, ``dry_run``).
    :param listing: the listing's return value (counts and skipped objects, for a dry run's plan).
    :param preflight: the pre-flight report (for a dry run's plan).
    :return: what each chunk may spend, in chunk order: ``[{"index", "job_id", "run",
        "ceiling_seconds", "credits", "reused", "estimate_seconds"}]`` (start_job takes its chunk's
        ``ceiling_seconds``); XCom ``spend_plan`` holds the decision: ``{"decision", "plan",
        "ceilings", "reservations", "approved_credits", "responded_by"}`` (a dry run adds
        ``would_start``, ``blocked_by``, ``objects`` and ``preflight``)
    """

    template_fields: Sequence[str] = ("subject", "body", "chunks", "run_plan", "listing", "preflight")
    ui_color = "#fca5a5"

    def __init__(
        self,
        *,
        policy: dict[str, Any],
        chunks: Any,
        run_plan: Any,
        listing: Any = None,
        preflight: Any = None,
        **kwargs: Any,
    ) -> None:
        self.policy = dict(policy)
        spend = SpendPolicy.from_dict(self.policy)
        # The DAG's params arrive here too; the approval form adds its own.
        params = {**dict(kwargs.pop("params", None) or {}), APPROVED_CREDITS_PARAM: Param(1.0, type="number")}
        super().__init__(
            subject=f"Approve the spending of pipeline {spend.pipeline_id}?",
            # Reject when nobody answers in time: a timeout must never spend.
            defaults=ApprovalOperator.REJECT,
            response_timeout=timedelta(seconds=spend.approval_timeout_seconds),
            ignore_downstream_trigger_rules=True,
            params=params,
            **kwargs,
        )
        self.chunks = chunks
        self.run_plan = run_plan
        self.listing = listing
        self.preflight = preflight

    def step_lineage(self, result: Any) -> Any:
        """The jobs allowed to spend, with the window's estimate and the ceilings the gate reserved."""
        allowances = result if isinstance(result, list) else []
        ceilings = [allowed.get("ceiling_seconds") for allowed in allowances]
        spend = {
            "estimate_seconds": sum(allowed.get("estimate_seconds") or 0 for allowed in allowances),
            "ceiling_seconds": sum(c for c in ceilings if c) if ceilings and None not in ceilings else None,
        }
        return lineage.operator_lineage(
            run_facets=lineage.roboflow_run_facets(
                job_ids=[allowed.get("job_id") for allowed in allowances], spend=spend if allowances else None
            )
        )

    # -- the approval form: its one field, whatever params the DAG has -------------------------------

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        return {APPROVED_CREDITS_PARAM: self.params.get_param(APPROVED_CREDITS_PARAM).serialize()}

    def validate_params_input(self, params_input: Any) -> None:
        unknown = sorted(set(params_input) - {APPROVED_CREDITS_PARAM})
        if unknown:
            raise ValueError(f"the approval form has only {APPROVED_CREDITS_PARAM!r}; got {unknown}")
        for key, value in params_input.items():
            self.params[key] = value

    # -- the decision -----------------------------------------------------------------------------

    def _plan(self) -> tuple[SpendPolicy, SpendPlan]:
        spend = SpendPolicy.from_dict(self.policy)
        chunks = [(int(c["index"]), str(c["job_id"]), int(c["count"])) for c in (self.chunks or [])]
        return spend, plan_window(spend, spend.ledger(), chunks)

    def execute(self, context: Context) -> Any:
        spend, plan = self._plan()
        self.log.info("%s", plan.message)
        # Also when the gate fails or waits: the Roboflow view shows why.
        decision = "over-budget" if plan.over_budget else "planned"
        self._publish(
            context, {"decision": decision, "plan": plan.to_dict(), "ceilings": [], "reservations": []}
        )
        window = self.run_plan or {}
        if window.get("dry_run"):
            return self._end_run(context, self._dry_run(plan), self._allowances(plan))
        if not plan.chunks:
            return self._decided(context, {"decision": "nothing-to-process", "plan": plan.to_dict()}, [])
        if not plan.over_budget:
            return self._reserve(context, spend, plan, "within-budget")
        if spend.on_over_budget != "approve":
            raise AirflowFailException(f"{plan.message} Nothing was staged.")
        self._ask(plan, window)
        return super().execute(context)

    def _ask(self, plan: SpendPlan, window: dict[str, Any]) -> None:
        """The request a person sees: what the window holds, what it should cost, what the budget says."""
        amount = _approval_amount(plan)
        self.params[APPROVED_CREDITS_PARAM] = Param(
            amount,
            type="number",
            exclusiveMinimum=0,
            description="Credits this run may spend (its jobs' machine-time ceilings come from it).",
        )
        limits = "\n".join(f"- {limit.describe()}" for limit in plan.limits) or "- no budget set"
        self.subject = (
            f"Pipeline {plan.pipeline}: {plan.objects:,} objects, estimated {plan.estimate_credits:.4g} "
            "credits: over budget. Spend it?"
        )
        self.body = (
            f"**Window** {window.get('window_start')} to {window.get('window_end')}: **{plan.objects:,} "
            f"objects** in {len(plan.chunks)} job(s) on {plan.machine_type} machines.\n\n"
            f"**Estimate**: {plan.estimate_seconds:,.0f} machine-seconds = **{plan.estimate_credits:.4g} "
            f"credits** ({plan.model.describe()}).\n\n**Budgets**:\n{limits}\n\n"
            f"**Approve** lets this run spend up to `{APPROVED_CREDITS_PARAM}` credits (offered: {amount:g}; "
            "Roboflow stops its jobs there). **Reject**, or no answer before the deadline, ends the run "
            "without staging anything."
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        answer = HITLOperator.execute_complete(self, context=context, event=event)
        spend, plan = self._plan()
        responder = answer.get("responded_by_user") or {}
        who = responder.get("name") if isinstance(responder, dict) else None
        if answer["chosen_options"] == [self.APPROVE]:
            approved = float((answer.get("params_input") or {}).get(APPROVED_CREDITS_PARAM) or 0)
            self.log.info("Approved by %s: up to %g credits.", who or "a person", approved)
            return self._reserve(context, spend, plan, "approved", approved, who)
        timed_out = bool(event.get("timedout"))
        self.log.warning(
            "%s: nothing is staged, every later step is skipped. %s",
            "No answer before the deadline, which counts as Reject" if timed_out else f"Rejected by {who}",
            plan.message,
        )
        decided = {
            "decision": "timed-out" if timed_out else "rejected",
            "plan": plan.to_dict(),
            "responded_by": who,
        }
        return self._end_run(context, decided, [])

    # -- outcomes ---------------------------------------------------------------------------------

    def _reserve(
        self,
        context: Context,
        spend: SpendPolicy,
        plan: SpendPlan,
        decision: str,
        approved: float | None = None,
        responded_by: str | None = None,
    ) -> list[dict[str, Any]]:
        try:
            reservations = reserve(
                spend,
                spend.ledger(),
                plan,
                run_id=str(context.get("run_id") or ""),
                approved_credits=approved,
            )
        except OverBudgetError as exc:
            raise AirflowFailException(f"{exc} Nothing was staged.") from None
        for item in reservations:
            self.log.info(
                "Job %s (run %d) may spend %s machine-seconds (reserved %.4g credits).",
                item.job_id,
                item.run,
                item.ceiling_seconds if item.ceiling_seconds is not None else "unlimited",
                item.credits,
            )
        if spend.has_budget is False and spend.processing_timeout_seconds is None:
            self.log.warning(
                "Pipeline %s has no budget (cost.max_credits_per_run, cost.budget) and no "
                "job.processing_timeout: its jobs get no machine-time ceiling.",
                spend.pipeline_id,
            )
        estimates = {chunk.index: chunk.estimate_seconds for chunk in plan.chunks}
        allowances = [
            {**item.to_dict(), "estimate_seconds": estimates.get(item.index)}
            for item in sorted(reservations, key=lambda r: r.index)
        ]
        decided = {
            "decision": decision,
            "plan": plan.to_dict(),
            "reservations": [item.to_dict() for item in reservations],
            "approved_credits": approved,
            "responded_by": responded_by,
        }
        return self._decided(context, decided, allowances)

    @staticmethod
    def _allowances(plan: SpendPlan) -> list[dict[str, Any]]:
        """What each chunk would be allowed, without a reservation (a dry run)."""
        return [
            {
                "index": c.index,
                "job_id": c.job_id,
                "ceiling_seconds": c.ceiling_seconds,
                "estimate_seconds": c.estimate_seconds,
            }
            for c in plan.chunks
        ]

    def _publish(self, context: Context, decided: dict[str, Any]) -> None:
        context["ti"].xcom_push(key=SPEND_PLAN_XCOM_KEY, value=decided)

    def _decided(
        self, context: Context, decided: dict[str, Any], allowances: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Publish the decision (XCom ``spend_plan``, with each chunk's ceiling) and return the allowances."""
        ceilings = [allowance.get("ceiling_seconds") for allowance in allowances]
        self._publish(context, {"ceilings": ceilings, "reservations": [], **decided})
        return allowances

    def _dry_run(self, plan: SpendPlan) -> dict[str, Any]:
        listing = self.listing or {}
        preflight = self.preflight or {}
        blocked = [check["check"] for check in preflight.get("checks", []) if check.get("status") == "failed"]
        if plan.over_budget:
            blocked.append("budget")
        self.log.info("Dry run: nothing was staged, ingested, started or written.")
        return {
            "decision": "dry-run",
            "would_start": not blocked,
            "blocked_by": blocked,
            "objects": {
                "count": listing.get("count", plan.objects),
                "media_type": listing.get("media_type"),
                "skipped": listing.get("skipped") or {},
                "skipped_examples": listing.get("skipped_examples") or [],
            },
            "plan": plan.to_dict(),
            "preflight": preflight,
        }

    def _end_run(
        self, context: Context, decided: dict[str, Any], allowances: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Publish the decision and skip every later step of the run (a dry run, a Reject, a timeout).

        Skipping ends the task before a return value would be pushed, so it is pushed first.
        """
        self._decided(context, decided, allowances)
        context["ti"].xcom_push(key="return_value", value=allowances)
        task = context["task"]
        later = [t for t in task.get_flat_relatives(upstream=False) if not t.is_teardown]
        if later:
            self.skip(ti=context["ti"], tasks=later)
        return allowances
