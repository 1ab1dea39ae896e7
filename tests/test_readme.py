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
    """Each `train.py predict ...  # output` line of the README: what predict prints after a
    default run, and the y_hat the spec-file referee (tests/spec_oracle.py) trains to."""
    import numpy as np
    import spec_oracle as oracle
    from conftest import run

    examples = re.findall(r"^\.venv/bin/python (train\.py predict [-0-9. ]+?) +# (.*)$",
                          README.read_text(), re.M)
    assert examples, "the README's predict example was not found"
    assert run(["train.py", "--quiet", "--out", str(tmp_path)]).returncode == 0
    spec = oracle.read_spec("xor")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array(oracle.TRUTH_TABLES[spec.dataset], dtype=float)
    params, _ = oracle.descend(spec, oracle.init_params(spec, spec.seed), X, y, spec.lr,
                               spec.epochs)
    for command, shown in examples:
        params_file = tmp_path / "params.json"
        result = run([*command.split(), "--params", str(params_file)])
        assert result.stdout.strip().replace(str(params_file), "out/params.json") == shown
        x = [float(v) for v in command.split()[2:]]
        y_hat = float(oracle.predict(spec, params, np.array([x]))[0])
        assert f"y_hat = {y_hat:.6f}  class = {int(y_hat >= 0.5)}" in shown


SUCCESS_CLAIM = re.compile(r"seeds 0-(\d+), (\d+) solved \((\d+)%\)")


def _success_claim() -> tuple[int, int]:
    """(seeds, solved) of the README's 'seeds 0-299, 252 solved (84%)'."""
    match = SUCCESS_CLAIM.search(README.read_text())
    assert match, "the README's success-rate sentence was not found"
    last, solved, percent = (int(g) for g in match.groups())
    assert percent == round(100 * solved / (last + 1))
    return last + 1, solved


def _solved_by_hand(seeds: int):
    """Which seeds solve XOR, by a plain NumPy 2-2-1 written here: every seed's network at
    once (axis 0), PyTorch's initialisation, full-batch descent with the gradients derived
    by hand. Settings from specs/xor.toml; nothing from derive/, generated/ or train.py."""
    import tomllib

    import numpy as np

    spec = tomllib.loads((REPO / "specs" / "xor.toml").read_text())
    assert (spec["inputs"], spec["hidden"], spec["activation"], spec["output"],
            spec["loss"], spec["dataset"]) == (2, [2], "sigmoid", "sigmoid", "bce", "xor")
    lr, epochs = float(spec["training"]["lr"]), int(spec["training"]["epochs"])
    bound = 1 / np.sqrt(2)  # fan-in 2 in both layers
    draws = [np.random.default_rng(seed) for seed in range(seeds)]
    W1 = np.array([r.uniform(-bound, bound, (2, 2)) for r in draws])  # drawn in this order:
    b1 = np.array([r.uniform(-bound, bound, 2) for r in draws])       # W1, b1, w2, b2
    w2 = np.array([r.uniform(-bound, bound, 2) for r in draws])
    b2 = np.array([r.uniform(-bound, bound) for r in draws])
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    for _ in range(epochs):
        h = sigmoid(np.einsum("nj,sij->sni", X, W1) + b1[:, None, :])  # (seed, sample, unit)
        y_hat = sigmoid(np.einsum("sni,si->sn", h, w2) + b2[:, None])
        d2 = y_hat - y                                   # dl/dz2 of BCE after a sigmoid
        d1 = d2[:, :, None] * w2[:, None, :] * h * (1 - h)
        W1 = W1 - lr * np.einsum("sni,nj->sij", d1, X) / 4
        b1 = b1 - lr * d1.mean(axis=1)
        w2 = w2 - lr * np.einsum("sn,sni->si", d2, h) / 4
        b2 = b2 - lr * d2.mean(axis=1)
    h = sigmoid(np.einsum("nj,sij->sni", X, W1) + b1[:, None, :])
    y_hat = sigmoid(np.einsum("sni,si->sn", h, w2) + b2[:, None])
    return np.all((y_hat >= 0.5) == (y >= 0.5), axis=1)


def test_readme_success_rate_recounted_independently():
    """'seeds 0-299, 252 solved (84%)', recounted without the program that printed it."""
    seeds, solved = _success_claim()
    assert int(_solved_by_hand(seeds).sum()) == solved


@pytest.mark.slow
def test_readme_success_rate_claim():
    """'seeds 0-299, 252 solved (84%)': rerun all 300 default trainings with train.py, and
    the very same seeds solve it in the hand-written recount."""
    import numpy as np

    from trainer.loops import init_params, train
    from trainer.model import load_generated

    seeds, claimed = _success_claim()
    model = load_generated("xor")
    X, y = model.dataset()
    solved = []
    for seed in range(seeds):
        params, _ = train(model, init_params(model, seed), X, y, 1.0, 2001)
        solved.append(bool(np.array_equal(model.forward(params, X) >= 0.5, y >= 0.5)))
    assert sum(solved) == claimed
    assert solved == _solved_by_hand(seeds).tolist()
