"""Every shipped spec, and the spec and CSV errors a user can make."""

from __future__ import annotations

import re

import pytest
from conftest import REPO, run

from derive.check import gradient_check, load_module
from derive.codegen import check_matrix_structure
from derive.gradients import DerivationError, derive, prove_by_differences, prove_monolithic
from derive.network import build
from derive.spec import SpecError, load_spec, parse_spec

SPECS = sorted(p.stem for p in (REPO / "specs").glob("*.toml"))
# The ones derived unit by unit too (the others at the matrix level only: test_matrix_code).
UNIT_SPECS = [name for name in SPECS if not load_spec(name).matrix_only]


def test_the_shipped_specs():
    assert {"xor", "xor_tanh4", "xor_deep", "moons_relu", "xor_mse"} <= set(SPECS)


@pytest.fixture(scope="module", params=UNIT_SPECS)
def derived(request):
    return derive(build(load_spec(request.param)))


def _composed_loss_is_huge(name: str) -> bool:
    """Deep and over 40 parameters: SymPy's derivative of the whole composed loss takes
    minutes (moons_leaky_softplus: 100 s), so that check runs with the slow ones."""
    spec = load_spec(name)
    widths = spec.widths
    return len(spec.hidden) > 1 and sum((a + 1) * b for a, b in zip(widths, widths[1:])) > 40


@pytest.mark.parametrize("derived", [
    pytest.param(name, marks=pytest.mark.slow) if _composed_loss_is_huge(name) else name
    for name in UNIT_SPECS], indirect=True)
def test_layered_derivation_equals_sympy_diff_of_the_whole_loss(derived):
    """Backpropagation through named deltas against the monolithic composed derivative."""
    prove_monolithic(derived)


def test_layered_derivation_equals_central_differences(derived):
    prove_by_differences(derived, entries=20)


@pytest.mark.parametrize("name", SPECS)
def test_generated_gradients_match_finite_differences(name):
    model = load_module(REPO / "generated" / f"{name}.py")
    worst = gradient_check(model, points=10, seed=3)
    assert all(rel < 1e-6 for _, rel in worst.values()), worst


def test_wide_layers_are_matrix_code_and_narrow_ones_scalar():
    moons = (REPO / "generated" / "moons_relu.py").read_text()
    assert "z1 = X @ W1.T + b1" in moons and "delta1.T @ X" in moons
    xor = (REPO / "generated" / "xor.py").read_text()
    assert "z1_1 = " in xor and " @ " not in xor


def test_matrix_structure_check_rejects_a_wrong_delta():
    import dataclasses

    gradients = derive(build(load_spec("moons_relu")))
    symbol, expr = gradients.deltas[1]
    deltas = (gradients.deltas[0], (symbol, 2 * expr), *gradients.deltas[2:])
    with pytest.raises(DerivationError, match="matrix form"):
        check_matrix_structure(dataclasses.replace(gradients, deltas=deltas))


def _readme_claims():
    """(spec, accuracy) rows of the README's table of shipped specs."""
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `specs/(\w+)\.toml` \|.*\| (\d+/\d+) \|$", text, re.M)
    assert rows, "README's table of shipped specs not found"
    return rows


def test_readme_lists_every_spec():
    assert sorted(name for name, _ in _readme_claims()) == SPECS


@pytest.mark.parametrize("name", SPECS)
def test_each_spec_trains_to_the_accuracy_the_readme_claims(name, tmp_path):
    claims = dict(_readme_claims())
    result = run(["train.py", "--spec", f"specs/{name}.toml", "--quiet", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert f"accuracy {claims[name]} " in result.stdout
    spec = load_spec(name)
    picture = "confusion.png" if spec.n_outputs > 1 else "boundary.png"
    if spec.n_inputs == 2 or spec.n_outputs > 1:
        assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG"


GOOD = (REPO / "specs" / "xor.toml").read_text()


@pytest.mark.parametrize(("change", "field", "says"), [
    (("activation = \"sigmoid\"", "activation = \"swish\""), "activation", "not one of"),
    (("hidden = [2]", "hidden = [0]"), "hidden", "not a width"),
    (("hidden = [2]", "hidden = [-3]"), "hidden", "not a width"),
    (("hidden = [2]", "hidden = []"), "hidden", "at least one"),
    (("hidden = [2]", "hidden = 2"), "hidden", "must be a list of widths, e.g. [2]"),
    (("inputs = 2", "inputs = \"two\""), "inputs", "must be int"),
    (("inputs = 2\n", ""), "inputs", "missing"),
    (("inputs = 2", "inputs = 3"), "dataset", "has 2 inputs"),
    (("loss = \"bce\"", "loss = \"hinge\""), "loss", "not one of"),
    (("output = \"sigmoid\"", "output = \"identity\""), "loss", "does not go with"),
    (("lr = 1.0", "lr = -1.0"), "training.lr", "positive"),
    (("epochs = 2001", "epochs = 0"), "training.epochs", "from 1"),
    (("dataset = \"xor\"", "dataset = \"mnist\""), "dataset", "not one of"),
    (("name = \"xor\"", "name = \"other\""), "name", "file name"),
    (("name = \"xor\"", "name = \"xor\"\nwidth = 3"), "width", "unknown field"),
    (("activation = \"sigmoid\"", "activation = [\"tanh\", \"relu\"]"), "activation",
     "for 1 hidden layer"),
])
def test_bad_specs_name_the_file_and_the_field(tmp_path, change, field, says):
    path = tmp_path / "xor.toml"
    path.write_text(GOOD.replace(*change, 1))
    with pytest.raises(SpecError) as error:
        parse_spec(path, path.read_text())
    message = str(error.value)
    assert message.startswith(f"{path}: field '{field}'") and says in message
    assert "\n" not in message
    result = run(["-m", "derive", str(path), "--out", str(tmp_path / "gen")])
    assert result.returncode == 2 and result.stderr.strip() == f"derive: error: {message}"
    assert not (tmp_path / "gen").exists()


def test_a_spec_may_not_take_the_assignment_report_names(tmp_path):
    path = tmp_path / "gradients.toml"
    path.write_text(GOOD.replace('name = "xor"', 'name = "gradients"'))
    with pytest.raises(SpecError, match="field 'name'.*taken"):
        parse_spec(path, path.read_text())


def test_malformed_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    result = run(["-m", "derive", str(path)])
    assert result.returncode == 2 and "not valid TOML" in result.stderr
    result = run(["-m", "derive", str(tmp_path / "nope.toml")])
    assert result.returncode == 2 and "no such spec file" in result.stderr


@pytest.mark.parametrize(("content", "says"), [
    ("x1,y\n0,1\n", "line 1: header must be x1,x2,y"),
    ("x1,x2,y\n0,1,1\n1,a,0\n", "line 3: not a number"),
    ("x1,x2,y\n0,1,1\n1,nan,0\n", "line 3: NaN or infinity"),
    ("x1,x2,y\n0,1\n", "line 2: 2 columns, expected 3"),
    ("x1,x2,y\n0,1,0.5\n", "line 2: y must be 0 or 1"),
    ("x1,x2,y\n", "no data rows"),
    ("", "line 1: header"),
])
def test_bad_csv_files(tmp_path, content, says):
    data = tmp_path / "data.csv"
    data.write_text(content)
    result = run(["train.py", "--data", str(data), "--epochs", "5", "--out", str(tmp_path / "o")])
    assert result.returncode == 2, result.stdout
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_training_on_a_csv_file(tmp_path):
    data = tmp_path / "and.csv"
    data.write_text("x1,x2,y\n0,0,0\n0,1,0\n1,0,0\n1,1,1\n")
    result = run(["train.py", "--data", str(data), "--quiet", "--out", str(tmp_path / "o")])
    assert result.returncode == 0, result.stderr
    assert "accuracy 4/4" in result.stdout
