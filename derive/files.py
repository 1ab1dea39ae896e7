"""Writing generated files: atomically, and stamped with a hash of what produced them."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from importlib.metadata import version
from pathlib import Path

import jinja2

from derive.spec import NetworkSpec

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP_PREFIX = "inputs-sha256: "
_UMASK = os.umask(0)
os.umask(_UMASK)


def spec_file(spec: NetworkSpec) -> Path:
    path = Path(spec.source)
    return path if path.is_absolute() else PACKAGE_DIR.parent / path


def source_files() -> list[Path]:
    """The derivation's own code and templates: a change to any of them makes outputs stale."""
    files = [*PACKAGE_DIR.glob("*.py"), *PACKAGE_DIR.glob("templates/*.j2")]
    return sorted(files, key=lambda p: p.relative_to(PACKAGE_DIR).as_posix())


def input_hash(spec: NetworkSpec) -> str:
    """sha256 over the spec file, the derivation's sources and the versions that print the output.

    train.py recomputes this without importing derive/ (its `_inputs_hash`); keep them alike.
    """
    digest = hashlib.sha256()
    digest.update(spec_file(spec).read_bytes())
    for name in ("sympy", "jinja2", "nbformat"):
        digest.update(f"\n{name}=={version(name)}".encode())
    for path in source_files():
        digest.update(f"\n{path.relative_to(PACKAGE_DIR).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_stamp(path: Path) -> str | None:
    """The inputs hash recorded in a generated file (in its header), if any."""
    try:
        found = re.search(r'inputs-sha256"?: "?([0-9a-f]{64})', path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return found.group(1) if found else None


def write_atomic(path: Path, text: str) -> bool:
    """Write `text` to `path` via a temporary file and rename; skip if already identical.

    Returns whether the file changed. A crash leaves either the old file or the new one.
    """
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def template_environment() -> jinja2.Environment:
    """Jinja settings shared by every template: strict, and exact about whitespace."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
