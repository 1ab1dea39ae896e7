"""Hypothesis strategies for parameters and inputs of a generated module."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def floats(bound: float) -> st.SearchStrategy[float]:
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)


def params_for(model, bound: float = 3.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """A dict of parameter arrays with the module's names and shapes."""
    return st.fixed_dictionaries({
        name: hnp.arrays(np.float64, tuple(shape), elements=floats(bound))
        for name, shape, _ in model.PARAMS
    })


@st.composite
def batches(draw, model, max_n: int = 6, bound: float = 3.0):
    """(X, y): 1..max_n samples, inputs in [-bound, bound], targets in [0, 1]."""
    n = draw(st.integers(1, max_n))
    X = draw(hnp.arrays(np.float64, (n, model.N_INPUTS), elements=floats(bound)))
    y = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.0, 1.0)))
    return X, y
