"""The C ensemble loop's own exp, log and log1p (derive/templates/simd_math.c.j2), compiled
with the loop's flags, against 40-digit mpmath: the error bounds the README states (exp
within 1.1 ulp, log within 3, log1p within 2.5) and the edge cases libm gets right."""

from __future__ import annotations

import ctypes
import math
import subprocess

import mpmath
import numpy as np
import pytest
from conftest import REPO, require_cc

from trainer.compiled import FALLBACK_FLAGS, FLAGS

WRAPPERS = """
void t_vexp(const double *x, double *y, long n) { for (long i = 0; i < n; ++i) y[i] = vexp(x[i]); }
void t_vlog(const double *x, double *y, long n) { for (long i = 0; i < n; ++i) y[i] = vlog(x[i]); }
void t_vlog1p(const double *x, double *y, long n)
{ for (long i = 0; i < n; ++i) y[i] = vlog1p(x[i]); }
"""


@pytest.fixture(scope="module")
def simd(tmp_path_factory):
    compiler = require_cc()
    folder = tmp_path_factory.mktemp("simd")
    source = folder / "simd.c"
    template = (REPO / "derive" / "templates" / "simd_math.c.j2").read_text()
    source.write_text("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n"
                      + template + WRAPPERS)
    for flags in (FLAGS, *FALLBACK_FLAGS):  # as trainer/compiled.py builds the loop
        built = subprocess.run([compiler, *flags, "-shared", "-fPIC", "-o",
                                str(folder / "simd.so"), str(source), "-lm"],
                               capture_output=True, text=True)
        if built.returncode == 0:
            break
    assert built.returncode == 0, built.stderr
    return ctypes.CDLL(str(folder / "simd.so"))


def evaluate(library, name: str, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.empty_like(x)
    pointer = ctypes.POINTER(ctypes.c_double)
    getattr(library, f"t_{name}")(x.ctypes.data_as(pointer), y.ctypes.data_as(pointer),
                                  ctypes.c_long(len(x)))
    return y


def ulps(got: np.ndarray, x: np.ndarray, exact) -> float:
    """The largest error in units of the last place of the exact (40-digit) result."""
    worst = 0.0
    with mpmath.workdps(40):
        for value, result in zip(x.tolist(), got.tolist()):
            truth = exact(mpmath.mpf(value))
            nearest = float(truth)
            if nearest == 0.0 or math.isinf(nearest):
                assert result == nearest, (value, result, nearest)
                continue
            spacing = math.ulp(nearest)
            worst = max(worst, float(abs(mpmath.mpf(result) - truth) / spacing))
    return worst


RNG = np.random.default_rng(2026)


def test_vexp_is_within_1_1_ulp(simd):
    x = np.concatenate([RNG.uniform(-708, 709, 4000), RNG.uniform(-40, 40, 6000),
                        RNG.uniform(-1e-3, 1e-3, 1000), np.arange(-700.0, 701.0, 0.5)])
    assert ulps(evaluate(simd, "vexp", x), x, mpmath.exp) <= 1.1


def test_vlog_is_within_three_ulps(simd):
    x = np.concatenate([10.0 ** RNG.uniform(-307, 308, 4000), RNG.uniform(0.5, 2.0, 4000),
                        1.0 + RNG.uniform(-1e-6, 1e-6, 1000), [5e-324, 1e-310, 0.7071067811865476]])
    assert ulps(evaluate(simd, "vlog", x), x, mpmath.log) <= 3.0


def test_vlog1p_is_within_2_5_ulps(simd):
    x = np.concatenate([10.0 ** RNG.uniform(-300, 300, 4000), RNG.uniform(0, 1, 4000),
                        10.0 ** RNG.uniform(-17, -5, 1000)])
    assert ulps(evaluate(simd, "vlog1p", x), x, mpmath.log1p) <= 2.5


def test_edge_cases_match_libm(simd):
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 710.0, -710.0, -745.2, 1e-320])
    exp_got = evaluate(simd, "vexp", specials)
    with np.errstate(over="ignore"):
        expected = np.exp(specials)
    expected[specials == -745.2] = 0.0  # libm gives a subnormal there; the loop flushes to 0
    expected[specials == -710.0] = 0.0
    assert np.array_equal(exp_got, expected, equal_nan=True)
    positive = np.array([0.0, np.inf, np.nan, -1.0, 5e-324])
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.array_equal(evaluate(simd, "vlog", positive), np.log(positive), equal_nan=True)
