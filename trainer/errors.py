"""The two failures train.py reports in one line, each with its own exit code."""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


class BadInput(Exception):
    """Something the user gave us is unusable: reported in one line, exit 2."""


class Diverged(Exception):
    """Gradient descent blew up: reported in one line, exit 3."""
