"""How a run's files reach its output folder: each written atomically (derive/stamps.py's
recipe), and the whole set published together under a lock, or not at all."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from derive import stamps
from trainer.errors import BadInput


def check_out(out: Path) -> None:
    """Refuse an --out that cannot become a writable folder before any training is done."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise BadInput(f"--out {out}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"--out {out}: {existing} is not writable")
    where = out.absolute()
    if existing.absolute() != where:  # a folder to make: try its first level, and take it back
        first = next(p for p in (where, *where.parents) if p.parent == existing.absolute())
        try:
            first.mkdir()
            first.rmdir()
        except OSError as error:
            raise BadInput(f"--out {out}: cannot make {first} ({error.strerror})") from None
    lock = out / ".lock"
    if lock.exists() and not lock.is_file():
        raise BadInput(f"--out {out}: {lock.name} is in the way (not a regular file)")


@contextlib.contextmanager
def staged_outputs(out: Path, names: tuple[str, ...]) -> Iterator[Path]:
    """A run's files, published together or not at all.

    They are written into a private folder inside `out`; then, holding a lock on `out`, they
    are renamed into place, and files of `names` this run did not write are removed, so the
    folder always holds one run's complete set. Runs sharing `out` take turns at the lock;
    a failure part-way publishes nothing. Nothing but this run's own files is touched.
    """
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".run-"))
    # `.owner` is locked while this run lives (the kernel drops the lock when it dies); it
    # gets its name only once locked, so no other run can take a live folder for a dead one.
    owner = open(stage / ".owner.new", "w")
    try:
        fcntl.flock(owner, fcntl.LOCK_EX)
        os.rename(stage / ".owner.new", stage / ".owner")
        yield stage
        with open(out / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _remove_dead_stages(out, stage)
            blocked = [n for n in names if (out / n).exists() and not (out / n).is_file()]
            if blocked:
                raise BadInput(f"--out {out}: {blocked[0]} is in the way (not a regular file); "
                               "nothing was written")
            for name in names:
                if (stage / name).is_file():
                    os.replace(stage / name, out / name)
                elif (out / name).is_file():
                    (out / name).unlink()
    finally:
        owner.close()
        shutil.rmtree(stage, ignore_errors=True)


def _remove_dead_stages(out: Path, mine: Path) -> None:
    """Private folders of runs that were killed: their `.owner` lock is free again. A live
    run's folder, or anything without such a lock, is left alone."""
    for stage in out.glob(".run-*"):
        if stage == mine or not (stage / ".owner").is_file():
            continue
        with open(stage / ".owner") as owner:
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its run is still writing
        shutil.rmtree(stage, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    """A UTF-8 text file of the set, written atomically."""
    stamps.write_atomic(path, text.encode("utf-8"))


def write_parts(path: Path, parts: list) -> None:
    """A file of the set from buffers written in order (a long history.csv, not joined
    first), atomically."""
    os.replace(stamps.stage(path, parts), path)
