"""The outcome of the pre-flight checks: one result per check, and the message a failure raises."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CheckStatus = Literal["ok", "warning", "failed", "skipped"]

SOURCE_LISTABLE = "source-listable"
SIGNED_URLS_FETCHABLE = "signed-urls-fetchable"
REFERENCES_WRITABLE = "references-writable"
DESTINATION_WRITABLE = "destination-writable"
ROBOFLOW_KEY = "roboflow-key"
BATCH_PROCESSING = "batch-processing"
CREDITS = "credits"
WEBHOOK_PUBLIC = "webhook-public"


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: CheckStatus
    message: str
    fix: str | None = None

    def line(self) -> str:
        return f"{self.check}: {self.message}" + (f" Fix: {self.fix}" if self.fix else "")


@dataclass
class PreflightReport:
    pipeline: str
    results: list[CheckResult] = field(default_factory=list)

    def add(self, *results: CheckResult) -> None:
        self.results.extend(results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "warning"]

    @property
    def passed(self) -> bool:
        return not self.failures

    def failure_message(self) -> str:
        lines = "\n".join(f"  - {result.line()}" for result in self.failures)
        count = len(self.failures)
        return (
            f"pipeline {self.pipeline}: {count} pre-flight check{'s' if count != 1 else ''} failed; "
            f"nothing was staged or spent:\n{lines}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "passed": self.passed,
            "checks": [asdict(result) for result in self.results],
        }
