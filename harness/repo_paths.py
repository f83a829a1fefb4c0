"""Where the project's checkout is: the harness runs its node and device modules from it."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding harness/, nodes/, topo/ ...)."""
