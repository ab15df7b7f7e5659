"""Run every bench/bench_*.py module and print one table of results (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_PATH = BENCH_DIR / "results" / "latest.json"


def discover(selected: list[str]) -> list[str]:
    names = sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))
    if selected:
        unknown = sorted(set(selected) - set(names))
        if unknown:
            raise SystemExit(f"unknown benchmark module(s): {', '.join(unknown)}; have: {', '.join(names)}")
        names = [name for name in names if name in selected]
    return names


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.2f}"
    return str(value)


def render(rows: list[dict[str, Any]]) -> str:
    headers = ["benchmark", "metric", "value", "baseline", "ratio", "target", "met"]
    table = [
        [
            row["benchmark"],
            row["metric"],
            f"{_number(row['value'])} {row['unit']}",
            "-"
            if row.get("baseline") is None
            else f"{_number(row['baseline'])} ({row.get('baseline_name') or ''})",
            "-" if row.get("ratio") is None else f"{row['ratio']:,.2f}x",
            row.get("target") or "-",
            {True: "yes", False: "NO", None: "-"}[row.get("met")],
        ]
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [headers, *table]) for i in range(len(headers))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    details = [
        f"  {row['benchmark']} / {row['metric']}: {row['detail']}" for row in rows if row.get("detail")
    ]
    return "\n".join(lines + (["", "Details:", *details] if details else []))


def previous_rows() -> list[dict[str, Any]]:
    """Rows of the last results file; an unreadable one is reported and replaced, not merged."""
    try:
        rows = json.loads(RESULTS_PATH.read_text())
    except FileNotFoundError:
        return []
    except ValueError as exc:
        print(f"{RESULTS_PATH.name} is not valid JSON ({exc}); writing only this run's rows.")
        return []
    return (
        [row for row in rows if isinstance(row, dict) and "benchmark" in row]
        if isinstance(rows, list)
        else []
    )


def merge(previous: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep rows of benchmarks not run this time; a benchmark that ran replaces all its old rows."""
    ran = {row["benchmark"] for row in fresh}
    return [row for row in previous if row["benchmark"] not in ran] + fresh


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("modules", nargs="*", help="bench_* module names to run (default: all)")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    failures = 0
    for name in discover(args.modules):
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            rows += module.run()
        except Exception:
            failures += 1
            traceback.print_exc()
        print(f"   {name} took {time.perf_counter() - started:.1f} s", flush=True)
    print()
    print(render(rows))
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(merge(previous_rows(), rows), indent=2) + "\n")
    print(f"\nResults written to {RESULTS_PATH.relative_to(BENCH_DIR.parent)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
