"""Running a mutant's tests for mutation/run.py: in a new interpreter, or in a fork of the runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--hypothesis-seed=0", "-o", "addopts="]
# Imported once by the runner so that a forked child starts with them (evsynth itself never is).
PRELOAD = ("numpy", "scipy.stats", "scipy.optimize", "scipy.linalg", "scipy.special", "pandas", "pymare", "yaml",
           "jsonschema", "hypothesis", "matplotlib.pyplot", "pytest")


def _verdict(code: int, output: str, copy_root: Path) -> str:
    status = {0: "survived", 1: "killed"}.get(code, "error")
    if status == "error" and str(copy_root) in output:
        status = "killed"  # the mutated module fails at import: every test of it fails
    return status


def run_tests(copy_root: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """Run ``tests`` (files or test ids) in a new interpreter on the mutated copy."""
    env = {**os.environ, "PYTHONPATH": str(copy_root), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests]
    start = time.monotonic()
    try:
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start
    return _verdict(result.returncode, result.stdout + result.stderr, copy_root), time.monotonic() - start


def run_tests_forked(copy_root: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """The same in a fork of this process, which has the heavy libraries imported but no evsynth
    module: interpreter start-up and library imports (about a second a mutant) are paid once."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 3
            try:
                os.setpgid(0, 0)  # one group, so that a timeout also ends the tests' own subprocesses
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                os.chdir(REPO)
                os.environ.update({"PYTHONPATH": str(copy_root), "PYTHONDONTWRITEBYTECODE": "1"})
                sys.dont_write_bytecode = True
                sys.path[:] = [str(copy_root)] + [p for p in sys.path if not (Path(p) / "evsynth").is_dir()]
                import pytest

                code = int(pytest.main([*PYTEST_ARGS, *tests]))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = start + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", time.monotonic() - start
            time.sleep(0.01)
        out.seek(0)
        output = out.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    verdict = _verdict(code, output, copy_root)
    if verdict == "error":
        print(output[-2000:], file=sys.stderr)
    return verdict, time.monotonic() - start
