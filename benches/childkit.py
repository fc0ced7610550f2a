"""A bench's servers in a child process of their own (so that their CPU is not the bench's): the
bench file run again as `python FILE serve ARGS...`, speaking JSON lines on stdin and stdout. The
child prints one line when it is ready, then answers each command line with one line; "quit" ends
it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


class Child:
    """`python script serve *args`; `ready` is its first line (e.g. the ports it serves on)."""

    def __init__(self, script: str, *args: object, what: str) -> None:
        self.what = what
        self.proc = subprocess.Popen(
            [sys.executable, script, "serve", *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready: dict[str, Any] = self.ask(None)

    def ask(self, command: str | None) -> dict[str, Any]:
        """Send `command` (None: send nothing) and return the child's next line."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.what} process ended (exit code {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
