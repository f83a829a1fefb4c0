#!/usr/bin/env python3
"""The testbed's command line: ``sudo python harness/run.py COMMAND [options]``.

Works with whichever ``python`` runs it: when that is not the project's environment
(``.venv``, made by ``setup.sh``), it re-executes itself with the environment's Python,
where mininet, torch and onnxruntime live. No activation needed.
"""
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = REPO_ROOT / ".venv"


def _in_project_env() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


if not _in_project_env() and not os.environ.get("ECT_NO_REEXEC"):
    venv_python = VENV / "bin" / "python"
    if not venv_python.exists():
        sys.stderr.write("error: the project environment is missing: run 'sudo ./setup.sh' first\n")
        sys.exit(2)
    os.execv(str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])

sys.path.insert(0, str(REPO_ROOT))

from harness.cli.main import main  # noqa: E402  (after the environment is settled)

if __name__ == "__main__":
    sys.exit(main())
