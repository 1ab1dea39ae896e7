"""`python -m derive.execute_notebook`: run a generated notebook, save it with its outputs.

The executed copy (out/xor.ipynb by default) is the file a student hands in: every cell run
top to bottom in a fresh python3 kernel, plots embedded as PNG.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from derive.cli import OneLineParser

REPO_DIR = Path(__file__).resolve().parent.parent


def execute(source: Path, timeout: int = 600) -> str:
    """Run every cell of `source` in a fresh kernel; return the executed notebook as JSON text."""
    import tempfile

    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook = nbformat.read(source, as_version=4)
    # The kernel talks over local sockets in a private folder (IPC), not unencrypted TCP:
    # no one else can listen in, and the kernel has no warning to print about it.
    with tempfile.TemporaryDirectory(prefix="derive-kernel-") as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc",
                                connection_file=str(Path(sockets) / "kernel.json"))
        client = NotebookClient(notebook, km=manager, timeout=timeout,
                                resources={"metadata": {"path": str(source.parent)}})
        try:
            try:
                client.execute(stderr=subprocess.DEVNULL)  # a kernel cut off is not news
            except AssertionError:
                if client.kc is None:  # nbclient's own Ctrl-C handler shut the kernel down
                    raise KeyboardInterrupt from None
                raise
        finally:  # a client given its kernel manager leaves the kernel to its owner
            if manager.has_kernel:
                manager.shutdown_kernel(now=False)
    return nbformat.writes(notebook) + "\n"


def edited_by_hand(source: Path) -> str | None:
    """Why a generated notebook must not run (its cells differ from what `make derive`
    wrote), or None. Notebooks of one's own, without our metadata, are run as they are."""
    import json

    from derive.stamps import cells_hash

    try:
        notebook = json.loads(source.read_text(encoding="utf-8"))
        recorded = notebook.get("metadata", {}).get("derive-nn", {}).get("cells-sha256")
        if recorded is None:
            return None
        if cells_hash(notebook["cells"]) != recorded:
            return (f"{source} was edited by hand (its cells no longer match their hash); run "
                    "`make derive` to regenerate it, and edit the executed copy in out/")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{source}: not a readable notebook"
    return None


def students_edits(target: Path) -> str | None:
    """Why an executed copy must not be overwritten (cells below the first changed since
    `make notebook` wrote it: a student's answers), or None. The first cell, name and
    student ID, is carried over instead (see `_keep_the_students_first_cell`)."""
    import json

    from derive.stamps import cells_hash

    if not target.exists():
        return None
    try:
        notebook = json.loads(target.read_text(encoding="utf-8"))
        recorded = notebook.get("metadata", {}).get("derive-nn", {}).get("body-sha256")
        if recorded is None or cells_hash(notebook["cells"][1:]) == recorded:
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{target} exists and is not a notebook this tool wrote; move it away first"
    return (f"{target} has edits of yours below the first cell; move it away (e.g. to "
            f"{target.with_name(target.stem + '-mine.ipynb')}) and run `make notebook` again")


def _record_body(text: str) -> str:
    """The executed copy's metadata gets the hash of its cells below the first, so that a
    rerun can tell a student's edits from its own output."""
    import json

    from derive.stamps import cells_hash

    notebook = json.loads(text)
    notebook.setdefault("metadata", {}).setdefault("derive-nn", {})["body-sha256"] = (
        cells_hash(notebook["cells"][1:]))
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _keep_the_students_first_cell(target: Path, text: str) -> str:
    """A rerun keeps the name and student ID typed into the first cell of the last copy."""
    import json

    try:
        old = json.loads(target.read_text(encoding="utf-8"))["cells"][0]
        new = json.loads(text)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return text
    first = new["cells"][0]
    if (old.get("cell_type") == "markdown" == first.get("cell_type")
            and old.get("source") != first.get("source")
            and "".join(old.get("source", "")).startswith("# ")):
        first["source"] = old["source"]
        return json.dumps(new, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return text


def run(argv: list[str] | None = None) -> int:
    """main(), with Ctrl-C said in one line at any moment, also where the interrupt set off
    another exception on its way out."""
    try:
        return main(argv)
    except BaseException as error:
        chain, seen = error, []
        while chain is not None and chain not in seen:
            seen.append(chain)
            chain = chain.__cause__ or chain.__context__
        if not any(isinstance(e, KeyboardInterrupt) for e in seen):
            raise
        print("execute_notebook: interrupted; the executed copy was not written (an earlier "
              "one is kept)", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m derive.execute_notebook",
                           description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, nargs="?", default=REPO_DIR / "generated/xor.ipynb")
    parser.add_argument("target", type=Path, nargs="?", default=Path("out/xor.ipynb"))
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"execute_notebook: error: {args.source}: no such notebook; run `make derive`",
              file=sys.stderr)
        return 2

    edited = edited_by_hand(args.source) or students_edits(args.target)
    if edited:
        print(f"execute_notebook: error: {edited}", file=sys.stderr)
        return 2

    from nbclient.exceptions import CellExecutionError

    from derive.files import write_atomic

    try:
        text = execute(args.source)
    except CellExecutionError as error:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
        last = plain.splitlines()[-1] if plain else "cell failed"
        print(f"execute_notebook: error: a cell failed: {last}", file=sys.stderr)
        return 1
    except RuntimeError as error:  # the kernel did not start or answer
        print(f"execute_notebook: error: {error}", file=sys.stderr)
        return 1
    text = _keep_the_students_first_cell(args.target, _record_body(text))
    write_atomic(args.target, text)
    print(f"execute_notebook: wrote {args.target} (executed, outputs embedded)")
    return 0


if __name__ == "__main__":
    sys.exit(run())
