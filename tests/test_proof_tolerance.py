"""The proof neither accepts wrong gradients (tests/test_derivation.py) nor refuses right
ones: a float disagreement is re-checked at 50 digits before it counts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.functions import ACTIVATIONS
from derive.gradients import derive
from derive.network import build
from derive.spec import parse_spec

NAMES = sorted(ACTIVATIONS)


def _spec(tmp_path, hidden, activations, output="sigmoid", loss="bce"):
    text = (f'name = "drawn"\ninputs = 2\nhidden = {list(hidden)}\n'
            f"activation = {list(activations)!r}\n".replace("'", '"')
            + f'output = "{output}"\nloss = "{loss}"\ndataset = "xor"\n')
    path = tmp_path / "drawn.toml"
    path.write_text(text)
    return parse_spec(path, text)


def test_the_relu_2_3_1_that_once_cried_wolf_derives(tmp_path):
    """Its float comparison differed by 1.7e-9; at 50 digits the two are the same number."""
    gradients = derive(build(_spec(tmp_path, [3], ["relu"])))
    assert set(gradients.params) == {"W1", "b1", "w2", "b2"}


def _draw_and_derive(tmp_path_factory, data, depths: int, widths: int) -> None:
    """A random small network; derive() raises DerivationError if its proof refuses it."""
    depth = data.draw(st.integers(1, depths))
    hidden = data.draw(st.lists(st.integers(1, widths), min_size=depth, max_size=depth))
    activations = data.draw(st.lists(st.sampled_from(NAMES), min_size=depth, max_size=depth))
    output, loss = data.draw(st.sampled_from([("sigmoid", "bce"), ("sigmoid", "mse"),
                                              ("identity", "mse")]))
    derive(build(_spec(tmp_path_factory.mktemp("spec"), hidden, activations, output, loss)))


@settings(max_examples=2, deadline=None)
@given(data=st.data())
def test_random_small_networks_derive(tmp_path_factory, data):
    _draw_and_derive(tmp_path_factory, data, depths=2, widths=3)


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_many_random_small_networks_derive(tmp_path_factory, data):
    _draw_and_derive(tmp_path_factory, data, depths=3, widths=4)
