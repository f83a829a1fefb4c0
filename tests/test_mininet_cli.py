"""`topology --cli` driven as a person does: in a terminal (tmux), typing commands and reading the screen."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

import psutil
import pytest

from conftest import REPO_ROOT, RUN_PY

pytestmark = pytest.mark.root


class Terminal:
    """One tmux session on a private server socket (nobody else's tmux is touched)."""

    def __init__(self, command: str):
        self.socket = f"ect-cli-test-{os.getpid()}"
        self.session = "cli"
        self._tmux("new-session", "-d", "-s", self.session, "-x", "200", "-y", "60", "-c", str(REPO_ROOT),
                   f"{command}; echo EXIT=$?; sleep 600")
        self.shell = psutil.Process(int(self._tmux("display-message", "-p", "-t", self.session, "#{pane_pid}")))

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.session)

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", line)
        self._tmux("send-keys", "-t", self.session, "Enter")

    def wait_for(self, predicate, what: str, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} on the screen within {timeout_s:g} s:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        """Close the terminal (the command gets SIGHUP, as when a window is closed) and wait for it to end."""
        try:
            children = self.shell.children(recursive=True)
        except psutil.Error:
            children = []
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"still running 30 s after the terminal closed: {alive}"


def test_cli_prints_nodes_and_a_ping_then_exit_tears_down(clean_machine):
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux to drive the CLI in a terminal (apt-get install tmux, or run ./setup.sh)")
    terminal = Terminal(f"{shlex.quote(sys.executable)} {shlex.quote(str(RUN_PY))} topology --cli")
    try:
        terminal.wait_for(lambda s: "mininet>" in s or "EXIT=" in s, "mininet> prompt")
        assert "EXIT=" not in terminal.screen(), terminal.screen()
        terminal.type("nodes")
        screen = terminal.wait_for(lambda s: "available nodes are" in s and s.rstrip().endswith("mininet>"),
                                   "answer to 'nodes'")
        listed = screen.split("available nodes are:", 1)[1].split()
        for host in ("ue1", "bs", "edge", "cloud"):
            assert host in listed, screen
        terminal.type("ue1 ping -c 2 10.0.3.2")
        screen = terminal.wait_for(lambda s: "packet loss" in s and s.rstrip().endswith("mininet>"), "ping summary")
        assert screen.count("bytes from 10.0.3.2") == 2, screen
        assert "2 received" in screen, screen
        terminal.type("exit")
        screen = terminal.wait_for(lambda s: "EXIT=" in s, "end of the command", timeout_s=30)
        assert "EXIT=0" in screen and "torn down in" in screen, screen
        assert "Traceback" not in screen, screen
    finally:
        terminal.close()
    # clean_machine asserts the network is gone: no ect* namespace, interface or project process left


def test_closing_the_terminal_tears_the_network_down(clean_machine):
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux to drive the CLI in a terminal (apt-get install tmux, or run ./setup.sh)")
    terminal = Terminal(f"{shlex.quote(sys.executable)} {shlex.quote(str(RUN_PY))} topology --cli")
    try:
        terminal.wait_for(lambda s: "mininet>" in s or "EXIT=" in s, "mininet> prompt")
        assert "EXIT=" not in terminal.screen(), terminal.screen()
    finally:
        terminal.close()  # SIGHUP: the run must tear down as on SIGTERM; clean_machine checks nothing is left
