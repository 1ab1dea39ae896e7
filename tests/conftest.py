"""Shared helpers: the repository root on sys.path, and running the CLIs as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, settings

# CI replays the same generated examples every run (a property that fails there fails in a
# reproducible way); a developer's runs keep drawing new ones.
settings.register_profile("ci", derandomize=True, database=None)
# tests/mutate.py (make mutate) needs a verdict, not the smallest failing example: no shrinking.
settings.register_profile("mutate", derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
if os.environ.get("HYPOTHESIS_PROFILE") == "mutate":
    settings.load_profile("mutate")
elif os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run(args: list[str], cwd: Path = REPO, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python <args>` with this interpreter and capture its output as text."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def xor_model():
    from generated import xor

    return xor


@pytest.fixture(scope="session")
def xor_gradients():
    """The SymPy derivation of the default spec (proved inside derive())."""
    from derive.gradients import derive
    from derive.network import build
    from derive.spec import load_spec

    return derive(build(load_spec("xor")))


def require_torch():
    """torch, or a visible skip; where REQUIRE_TORCH=1 (CI) a missing torch is a failure."""
    try:
        import torch
    except ImportError:
        if os.environ.get("REQUIRE_TORCH") == "1":
            pytest.fail("REQUIRE_TORCH=1 but torch is not installed (make setup-torch)")
        pytest.skip("PyTorch referee not installed: make setup-torch (torch==2.13.0, CPU)",
                    allow_module_level=True)
    return torch


def require_cc() -> str:
    """The C compiler train.py would use, or a visible skip; where REQUIRE_CC=1 (CI) a
    missing compiler is a failure, so the C-loop tests cannot silently stop running."""
    import shutil

    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        if os.environ.get("REQUIRE_CC") == "1":
            pytest.fail("REQUIRE_CC=1 but no C compiler (cc, gcc or clang) is on PATH")
        pytest.skip("no C compiler on PATH (apt-get install gcc): the C loop cannot be built; "
                    ".ci/run installs one and sets REQUIRE_CC=1")
    return compiler


def copy_project(target: Path) -> Path:
    """train.py, generated/, derive/, trainer/ and specs/ copied: a project to tamper with."""
    import shutil

    for name in ("train.py", "generated", "derive", "trainer", "specs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    return target
