"""The recipes both sides of generated/ must agree on: stdlib only, so train.py can use them
without SymPy or Jinja.

- A generated file that runs (the module, the C loop) carries its own sha256 on one line of
  a fixed form, `MARKER<64 hex>`; the hash covers the whole file with only that first
  occurrence's digits zeroed, so a hand edit anywhere, a second marker line included,
  changes it.
- The inputs hash: the spec file, the derivation's sources and templates, and the versions
  of the packages that print the outputs. It is recorded once per spec, with the sha256 of
  every file derived from it, in the folder's manifest.json, not in the files themselves:
  a change to derive/ that changes no output rewrites the manifest alone. A file whose
  spec's inputs hash or own sha256 differs from the manifest's is stale.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import types
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

PY_MARKER = 'MODULE_SHA256 = "'
MANIFEST = "manifest.json"
C_MARKER = " * source-sha256: "
HASHED_VERSIONS = ("sympy", "jinja2", "nbformat")
_ZEROS = "0" * 64


def _zeroed(text: str, marker: str) -> tuple[str, str | None]:
    """`text` with the first marker's digits zeroed, and those digits (None: no marker)."""
    found = re.search(re.escape(marker) + "([0-9a-f]{64})", text)
    if found is None:
        return text, None
    start, end = found.span(1)
    return text[:start] + _ZEROS + text[end:], found.group(1)


def self_hash(text: str, marker: str) -> str:
    """sha256 of `text` with its own hash's digits zeroed."""
    return hashlib.sha256(_zeroed(text, marker)[0].encode("utf-8")).hexdigest()


def stamp_self(text: str, marker: str) -> str:
    """Fill in the file's own hash (its marker must carry 64 zeros)."""
    zeroed, digits = _zeroed(text, marker)
    if digits != _ZEROS:
        raise ValueError("the text has no unfilled self-hash marker")
    start = zeroed.index(marker) + len(marker)
    return zeroed[:start] + self_hash(zeroed, marker) + zeroed[start + 64:]


def is_intact(text: str, marker: str) -> bool:
    """Whether the file still has the hash it was written with."""
    _, digits = _zeroed(text, marker)
    return digits is not None and digits == self_hash(text, marker)


def cells_hash(cells: list[dict]) -> str:
    """sha256 of a notebook's cells (kind and source): its metadata carries it, so that a
    hand-edited generated notebook is noticed before it is run."""
    content = [[cell["cell_type"], "".join(cell["source"])] for cell in cells]
    return hashlib.sha256(json.dumps(content, ensure_ascii=True).encode()).hexdigest()


def inputs_hash(spec_file: Path, derive_dir: Path) -> str | None:
    """sha256 over the spec file, derive/'s sources and templates and the printers' versions;
    None where the spec file or the derivation toolchain is not here to compare with."""
    try:
        digest = hashlib.sha256(spec_file.read_bytes())
        for name in HASHED_VERSIONS:
            digest.update(f"\n{name}=={metadata.version(name)}".encode())
    except (OSError, metadata.PackageNotFoundError):
        return None
    sources = [*derive_dir.glob("*.py"), *derive_dir.glob("templates/*.j2")]
    for path in sorted(sources, key=lambda p: p.relative_to(derive_dir).as_posix()):
        digest.update(f"\n{path.relative_to(derive_dir).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(folder: Path) -> dict[str, dict]:
    """spec name -> {"inputs-sha256": ..., "files": {file name: sha256}}; empty where the
    folder has no readable manifest (every spec in it then counts as stale)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        specs = data["specs"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return specs if isinstance(specs, dict) else {}


def manifest_text(specs: dict[str, dict]) -> str:
    """The manifest as `make derive` writes it: sorted, one entry a line or so, stable."""
    data = {"about": "written by make derive (python -m derive); do not edit",
            "specs": specs}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def stale_reason(folder: Path, spec_name: str, file_name: str,
                 current_inputs: str | None) -> str | None:
    """Why `folder/file_name` is not what `make derive` would write for the spec today
    (None: it is). `current_inputs` None means the sources are not here to compare with."""
    entry = read_manifest(folder).get(spec_name)
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        return f"{folder / MANIFEST} has no record of spec {spec_name}"
    if current_inputs is not None and entry.get("inputs-sha256") != current_inputs:
        return "its spec file, derive/ or its templates changed since it was generated"
    try:
        data = (folder / file_name).read_bytes()
    except OSError:
        return f"{folder / file_name} cannot be read"
    if entry["files"].get(file_name) != file_sha256(data):
        return (f"it differs from the file {folder / MANIFEST} records for spec {spec_name} "
                f"(edited by hand?)")
    return None


def stage(path: Path, data: bytes | Iterable[bytes | memoryview]) -> str:
    """`data` (bytes, or buffers to write in order) in a complete temporary file beside
    `path` (flushed to disk, the permissions the umask gives), ready to be renamed over it;
    its name is returned."""
    umask = os.umask(0)
    os.umask(umask)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.writelines([data] if isinstance(data, bytes) else data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: Path, data: bytes) -> bool:
    """Write via a temporary file beside `path` and rename; skip if already identical.

    Returns whether the file changed. A crash leaves the old file or the new one, never
    half of one.
    """
    if path.is_file() and path.read_bytes() == data:
        return False
    tmp = stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def import_checked(path: Path, qualified: str) -> types.ModuleType:
    """A generated module, imported only once its own hash shows it is what `make derive`
    wrote: a hand-edited one raises ValueError before any of its code runs."""
    if path.stat().st_size > 10_000_000 or not is_intact(
            path.read_text(encoding="utf-8", errors="replace"), PY_MARKER):
        raise ValueError(f"{path} was edited by hand (its own hash does not match)")
    cached = sys.modules.get(qualified)
    if cached is not None and getattr(cached, "__file__", None) == str(path):
        return cached
    module_spec = importlib.util.spec_from_file_location(qualified, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    sys.modules[qualified] = module
    return module
