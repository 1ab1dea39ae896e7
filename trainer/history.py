"""history.csv's text ("epoch,loss" rows, the loss as Python's repr: exact and shortest;
"epoch,loss,full_loss" with --full-loss),
formatted in C where a compiler exists: CPython's repr costs more per epoch than the C
training loop itself, so a long run would spend most of its time writing its history.

The C formatter (history_rows.c) covers 1e-14 <= |loss| < 1e16, zero, inf and NaN; rows
outside that range are formatted by repr, so the text is the same either way (tested)."""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from trainer.compiled import cached_library, find_compiler

HEADER = b"epoch,loss\n"
FULL_HEADER = b"epoch,loss,full_loss\n"
ROW_BYTES = 64  # the widest row: a 20-digit epoch, a comma, a 24-character repr, a newline
_SOURCE = Path(__file__).with_name("history_rows.c")


def python_rows(history: np.ndarray, first: int = 0) -> bytes:
    """The rows by CPython's repr (the reference, and the path without a compiler)."""
    return "".join(["%d,%r\n" % row  # noqa: UP031  (the fastest exact writer in Python)
                    for row in enumerate(np.asarray(history, dtype=np.float64).tolist(),
                                         first)]).encode("ascii")


def history_csv(history: np.ndarray, formatter: ctypes.CDLL | None) -> bytes:
    """history.csv's bytes: the header, then one row per epoch; formatted by `formatter`
    (`c_formatter()`) or, given None, by repr."""
    return b"".join(history_parts(history, formatter))


def history_parts(history: np.ndarray, formatter: ctypes.CDLL | None,
                  full_losses: np.ndarray | None = None) -> list:
    """history.csv's bytes as buffers to be written in order (a long history's text is not
    copied once more to join it). A long history is formatted in one slice per core (the C
    call lets go of the GIL). With `full_losses` (--full-loss) a third column, by repr."""
    if full_losses is not None:
        rows = zip(np.asarray(history, dtype=np.float64).tolist(),
                   np.asarray(full_losses, dtype=np.float64).tolist())
        return [FULL_HEADER, "".join(["%d,%r,%r\n" % (epoch, *row)  # noqa: UP031
                                      for epoch, row in enumerate(rows)]).encode("ascii")]
    values = np.ascontiguousarray(history, dtype=np.float64).reshape(-1)
    if formatter is None:
        return [HEADER, python_rows(values)]
    pieces = max(1, min(os.cpu_count() or 1, len(values) // 50_000))
    bounds = np.linspace(0, len(values), pieces + 1).astype(int)
    slices = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    if pieces == 1:
        parts = [_c_rows(formatter, values, *slices[0])]
    else:
        with ThreadPoolExecutor(pieces) as pool:
            parts = list(pool.map(lambda bound: _c_rows(formatter, values, *bound), slices))
    return [HEADER, *(part for rows in parts for part in rows)]


def _c_rows(formatter: ctypes.CDLL, values: np.ndarray, start: int, stop: int) -> list:
    """The rows of epochs start .. stop - 1, as buffers in order: the C formatter's, with
    repr's row for each value outside its range."""
    buffer = np.empty(ROW_BYTES * (stop - start), dtype=np.uint8)
    parts, used, stopped = [], 0, ctypes.c_long()
    double_p = ctypes.POINTER(ctypes.c_double)
    while start < stop:
        size = formatter.history_rows(values[start:].ctypes.data_as(double_p), stop - start,
                                      start, buffer.ctypes.data + used, ctypes.byref(stopped))
        parts.append(buffer[used:used + size])
        used += size
        start += stopped.value
        if start < stop:  # a value outside the C formatter's range
            parts.append(python_rows(values[start:start + 1], start))
            start += 1
    return parts


@functools.cache
def c_formatter() -> ctypes.CDLL | None:
    """history_rows.c built and loaded (cached like the C loops), or None without a compiler
    or where the build fails."""
    compiler = find_compiler()
    if compiler is None:
        return None
    try:
        library = cached_library(_SOURCE, _SOURCE.read_text(encoding="utf-8"), compiler,
                                 "history_rows", ("history_rows",))
    except (OSError, AttributeError, subprocess.SubprocessError):
        return None
    library.history_rows.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.c_long,
                                     ctypes.c_long, ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_long)]
    library.history_rows.restype = ctypes.c_long
    return library
