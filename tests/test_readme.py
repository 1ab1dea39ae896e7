"""The README tells the truth: its two commands exist, and its example output is real."""

from __future__ import annotations

import re

import pytest
from conftest import REPO
from readme_example import README, current_block, example_output


def test_readme_states_the_two_commands():
    text = README.read_text()
    assert "make train" in text and "make test" in text
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^train:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_readme_example_output_is_what_train_prints():
    assert current_block(README.read_text()) == example_output(), "run `make readme`"


def test_readme_gradient_formulas_are_the_generated_ones():
    readme = re.findall(r"^\$\$(\\frac\{\\partial L\}.*)\$\$$", README.read_text(), re.M)
    generated = (REPO / "generated" / "gradients.md").read_text()
    assert len(readme) == 4
    for formula in readme:
        assert f"$$\n{formula}\n$$" in generated, formula


def test_readme_predict_example_is_true(tmp_path):
    from conftest import run

    assert run(["train.py", "--quiet", "--out", str(tmp_path)]).returncode == 0
    examples = re.findall(r"^\.venv/bin/python (train\.py predict 1 0) +# (.*)$",
                          README.read_text(), re.M)
    assert examples, "the README's predict example was not found"
    for command, shown in examples:
        params = tmp_path / "params.json"
        result = run([*command.split(), "--params", str(params)])
        assert result.stdout.strip().replace(str(params), "out/params.json") == shown


@pytest.mark.slow
def test_readme_success_rate_claim():
    """'seeds 0-299, 252 solved (84%)': rerun all 300 default trainings."""
    import numpy as np

    import train

    X, y = train.model.dataset()
    solved = 0
    for seed in range(300):
        params, _ = train.train(train.init_params(seed), X, y, 1.0, 2001)
        solved += bool(np.array_equal(train.model.forward(params, X) >= 0.5, y >= 0.5))
    assert "seeds 0-299, 252 solved (84%)" in README.read_text()
    assert solved == 252
