"""The argument parser of every `python -m derive ...` command: an error is one line on
stderr and exit code 2, never argparse's usage block (standard library only)."""

from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")
