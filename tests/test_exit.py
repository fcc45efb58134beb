"""How a newsbench process ends (newsbench.cli.run / end_process).

The entry points end with os._exit after Python's own exit work, so that no native library's static destructor runs:
pyarrow's thread pools made about one exit in a hundred abort with status 134 after a command had finished (seen in
CI on `data validate`). These tests pin what must still happen before that hard exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    # at call time: the autouse fixture has pointed NEWSBENCH_CACHE at the test session's own folder
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "COLUMNS": "80"}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)


def test_end_process_runs_atexit_joins_threads_flushes_and_keeps_the_status(tmp_path):
    marker = tmp_path / "thread-done"
    proc = _python(
        "import atexit, sys, threading, time\n"
        "from newsbench.cli import end_process\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        f"t = threading.Thread(target=lambda: (time.sleep(0.3), open({str(marker)!r}, 'w').write('x')))\n"
        "t.start()\n"
        "sys.stdout.write('unflushed output')\n"
        "end_process(3)\n"
        "print('never printed')\n")
    assert proc.returncode == 3
    assert proc.stdout == "unflushed output"
    assert proc.stderr.strip() == "atexit ran"
    assert marker.read_text() == "x"


def test_end_process_maps_exit_codes_as_sys_exit_does():
    assert _python("from newsbench.cli import end_process; end_process(None)").returncode == 0
    proc = _python("from newsbench.cli import end_process; end_process('a message')")
    assert proc.returncode == 1 and proc.stderr.strip() == "a message"


def test_a_command_that_reads_data_ends_through_the_hard_exit(tiny_dir):
    """`python -m newsbench` reaches run(): a data command's exit skips native destructors (an atexit handler
    registered after import proves the exit path ran end_process, which runs handlers before os._exit)."""
    proc = _python(
        "import atexit, sys\n"
        "atexit.register(lambda: print('handlers ran', file=sys.stderr))\n"
        "import os; os._exit = (lambda real: (lambda code: (print('hard exit', code, file=sys.stderr), "
        "real(code))))(os._exit)\n"
        f"sys.argv = ['newsbench', 'data', 'validate', {str(tiny_dir)!r}]\n"
        "import runpy; runpy.run_module('newsbench', run_name='__main__')\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-2:] == ["handlers ran", "hard exit 0"]
    assert proc.stdout.startswith("ok: ")
