"""Child process of bench_results_table: write N result rows as raw JSONL files (what the export
lands), or write the results table from such files; print one JSON line with the seconds taken and
the process's peak RSS. Run as ``python -m bench.results_table_child raw|table N FOLDER``."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROWS_PER_FILE = 256  # one result file per processing task, as the emulator writes them


def result_row(index: int) -> dict[str, Any]:
    """A detection row like the emulator's: 0 to 3 boxes, about 1.5 per image."""
    boxes = [
        {
            "x": 10.0 + (index * 7 + n) % 600,
            "y": 20.0 + (index * 3 + n) % 400,
            "width": 12.0,
            "height": 9.5,
            "confidence": round(0.3 + ((index + n) % 70) / 100, 4),
            "class": ("car", "bus", "person")[(index + n) % 3],
            "class_id": (index + n) % 3,
            "detection_id": f"{index:08d}-{n}",
        }
        for n in range(index % 4)
    ]
    return {
        "file_name": f"cams__frame-{index:07d}.jpg",
        "predictions": {"predictions": boxes, "image": {"width": 640, "height": 480}},
    }


def write_raw(rows: int, folder: Path) -> list[dict[str, Any]]:
    files = []
    for start in range(0, rows, ROWS_PER_FILE):
        path = f"results/results-{start // ROWS_PER_FILE:05d}.jsonl"
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            for index in range(start, min(rows, start + ROWS_PER_FILE)):
                handle.write(json.dumps(result_row(index)) + "\n")
        files.append({"path": path, "size": target.stat().st_size, "sha256": ""})
    return files


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(mode: str, rows: int, folder: str) -> None:
    root = Path(folder)
    started = time.perf_counter()
    detail: dict[str, Any] = {}
    imported = peak_rss_mib()
    if mode == "raw":
        files = write_raw(rows, root / "export")
        (root / "files.json").write_text(json.dumps(files))
    else:
        from include.roboflow_batch.results_table.writer import (
            ChunkOutput,
            TableTarget,
            TableWindow,
            write_window_table,
        )

        files = json.loads((root / "files.json").read_text())
        chunk = ChunkOutput((root / "export").as_uri(), None, "batch", "job", {"files": files})
        window = TableWindow("cams", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 1, tzinfo=UTC))
        imported = peak_rss_mib()  # pyarrow's and Airflow's imports are not the table's cost
        started = time.perf_counter()
        written = write_window_table(TableTarget((root / "tables").as_uri()), window, [chunk])
        detail = {
            "records": written.rows,
            "bytes": Path(written.predictions_uri.removeprefix("file://")).stat().st_size,
        }
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib() - imported, **detail}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
