"""Hypothesis strategies for parameters and inputs, shaped by a spec file or a module."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def floats(bound: float) -> st.SearchStrategy[float]:
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)


def _layout(source):
    """(name, shape, fan-in) of every parameter: a spec file's (tests/spec_oracle.py
    RawSpec.layout) or a generated module's PARAMS."""
    return source.layout if hasattr(source, "layout") else source.PARAMS


def _width(source) -> int:
    return source.n_inputs if hasattr(source, "n_inputs") else source.N_INPUTS


def params_for(source, bound: float = 3.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """A dict of parameter arrays with the names and shapes of a spec (or module)."""
    return st.fixed_dictionaries({
        name: hnp.arrays(np.float64, tuple(shape), elements=floats(bound))
        for name, shape, _ in _layout(source)
    })


@st.composite
def batches(draw, source, max_n: int = 6, bound: float = 3.0):
    """(X, y): 1..max_n samples, inputs in [-bound, bound], targets in [0, 1]."""
    n = draw(st.integers(1, max_n))
    X = draw(hnp.arrays(np.float64, (n, _width(source)), elements=floats(bound)))
    if getattr(source, "output", None) == "softmax":  # class labels 0 .. K-1
        y = draw(hnp.arrays(np.float64, (n,), elements=st.integers(0, source.n_outputs - 1)
                            .map(float)))
    else:
        y = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.0, 1.0)))
    return X, y


@st.composite
def spec_points(draw, spec, bound: float = 2.0, max_n: int = 5):
    """(params, X, y) for a spec read from its file (tests/spec_oracle.py): parameters with
    the shapes the spec file implies, 1..max_n inputs in [-bound, bound], targets in [0, 1]."""
    params = draw(params_for(spec, bound))
    X, y = draw(batches(spec, max_n, bound))
    return params, X, y
