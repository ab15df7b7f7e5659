"""A fork server for the official `inference` CLI, run by the interpreter of .venv-cli.

Importing `inference_cli` costs about 7 s of CPU (pandas, scipy, supervision, OpenCV), which would
make a few dozen CLI calls take minutes. This process imports it once, then drops every
`inference_cli` and `inference_sdk` module again, keeping only the heavy third-party libraries in
memory. Each request forks a child that sets the requested environment, imports `inference_cli.main`
afresh (so `API_BASE_URL` and `ROBOFLOW_API_KEY` are read at import time, exactly as in a fresh
process) and runs `app()` with the requested arguments, like the `inference` console script does.

Protocol: one JSON request per line on stdin
(`{"argv": [...], "env": {...}, "cwd": "...", "timeout": seconds}`), one JSON response per line on
the original stdout (`{"returncode", "stdout", "stderr", "timed_out", "duration"}`). Everything the
server itself might print goes to stderr.

This file runs in a different virtual environment from the tests: it uses the standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from typing import Any

_CLI_PACKAGES = ("inference_cli", "inference_sdk")
_reply_fd = -1  # the server's protocol stream; a child must not hold it open


def _preload() -> None:
    import inference_cli.main  # noqa: F401  (the expensive part, kept in memory for the children)

    for name in [m for m in sys.modules if m.split(".")[0] in _CLI_PACKAGES]:
        del sys.modules[name]


def _run_child(argv: list[str], env: dict[str, str], cwd: str, out_path: str, err_path: str) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        os.setsid()  # own process group: a time-out kills the CLI's worker processes too
        os.close(_reply_fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        out = os.open(out_path, os.O_WRONLY | os.O_TRUNC)
        err = os.open(err_path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        import random

        random.seed()  # a fresh process seeds from urandom; the CLI draws job ids from `random`
        sys.argv = ["inference", *argv]
        from inference_cli.main import app

        try:
            app()
            code = 0
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exit_code(status: object) -> int:
    """What the interpreter makes of `sys.exit(status)`: a message goes to stderr and means 1."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status
    print(status, file=sys.stderr)
    return 1


def _wait(pid: int, timeout: float) -> tuple[int, bool]:
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status), True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _handle(request: dict[str, Any], scratch: str) -> dict[str, Any]:
    out_path = os.path.join(scratch, "stdout")
    err_path = os.path.join(scratch, "stderr")
    for path in (out_path, err_path):
        open(path, "wb").close()
    started = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _run_child(request["argv"], request["env"], request["cwd"], out_path, err_path)
    returncode, timed_out = _wait(pid, float(request["timeout"]))
    with (
        open(out_path, encoding="utf-8", errors="replace") as out,
        open(err_path, encoding="utf-8", errors="replace") as err,
    ):
        return {
            "returncode": returncode,
            "stdout": out.read(),
            "stderr": err.read(),
            "timed_out": timed_out,
            "duration": time.monotonic() - started,
        }


def main() -> None:
    global _reply_fd
    _reply_fd = os.dup(1)
    replies = os.fdopen(_reply_fd, "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed by imports must not corrupt the protocol stream
    _preload()
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    with tempfile.TemporaryDirectory(prefix="inference-cli-fork-") as scratch:
        for line in sys.stdin:
            if not line.strip():
                continue
            reply = _handle(json.loads(line), scratch)
            replies.write(json.dumps(reply) + "\n")
            replies.flush()


if __name__ == "__main__":
    main()
