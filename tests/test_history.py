"""history.csv's rows from the C formatter are exactly CPython's repr rows, for any float:
repr is the oracle (shortest round-trip, nearest), the C code is the thing under test."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from conftest import require_cc
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.history import HEADER, c_formatter, history_csv, python_rows


@pytest.fixture(scope="module")
def formatter():
    require_cc()
    library = c_formatter()
    assert library is not None, "a compiler is on PATH but history_rows.c did not build"
    return library


def edge_values() -> list[float]:
    """Powers of two and ten and their neighbours (where the shortest decimal is decided by
    a narrow interval or a tie), the ends of the C range, and the specials."""
    values = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1.5, 123456.0, 1e-5,
              1e-4, 9.999999999999999e15, 1e16, 1e-14, 0.5]
    for k in range(-50, 56):
        values += [2.0 ** k, math.nextafter(2.0 ** k, 0), math.nextafter(2.0 ** k, math.inf)]
    for k in range(-16, 18):
        values += [10.0 ** k, math.nextafter(10.0 ** k, 0), math.nextafter(10.0 ** k, math.inf)]
    return values + [-v for v in values]


def test_edge_values_format_as_repr(formatter):
    values = np.array(edge_values())
    assert history_csv(values, formatter) == HEADER + python_rows(values)


def test_a_million_random_doubles_format_as_repr(formatter):
    rng = np.random.default_rng(13)
    bits = rng.integers(0, 2 ** 63, 400_000, dtype=np.uint64).view(np.float64)
    losses = 10.0 ** rng.uniform(-15, 17, 400_000)  # the scale losses live on, and past it
    uniform = rng.random(200_000)
    values = np.concatenate([bits, -bits[:1000], losses, uniform])
    text = history_csv(values, formatter)
    assert text == HEADER + python_rows(values)
    assert text.count(b"\n") == len(values) + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                max_size=50))
def test_any_floats_format_as_repr(formatter, values):
    array = np.array(values, dtype=np.float64)
    expected = HEADER + python_rows(array)
    assert history_csv(array, formatter) == expected
    # and the rows read back as the same doubles, bit for bit (any NaN reads back as NaN)
    rows = expected.decode().splitlines()[1:]
    back = [float(row.split(",")[1]) for row in rows]
    assert [math.isnan(v) or struct.pack("<d", v) for v in back] == \
        [math.isnan(v) or struct.pack("<d", v) for v in array]


def test_without_a_compiler_the_rows_are_repr_and_read_back():
    values = np.concatenate([np.random.default_rng(1).random(1000), [np.nan, 1e300, -2.5]])
    lines = history_csv(values, None).decode().splitlines()
    assert lines[0] == "epoch,loss"
    assert [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(len(values))]
    back = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert np.array_equal(back, values, equal_nan=True)
    assert lines[1:] == [f"{i},{v!r}" for i, v in enumerate(values.tolist())]
