"""The command line a student meets first: a complete --help, and a predict that knows its
network and says which one it used."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO, run


def _readme_flags() -> set[str]:
    text = (REPO / "README.md").read_text()
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", text))
    assert len(flags) >= 10  # the README's flag reference was found
    return flags - {"--all", "--if-stale", "--points", "--tol", "--module", "--run", "--json",
                    "--csv"}


def test_help_lists_every_flag_the_readme_names_with_defaults_and_predict():
    result = run(["train.py", "--help"])
    assert result.returncode == 0
    for flag in _readme_flags() - {"--params"}:
        assert flag in result.stdout, flag
    assert "predict" in result.stdout and "examples:" in result.stdout
    options = re.findall(r"^  (--[a-z-]+)", result.stdout, re.M)
    assert len(options) >= 10
    body = result.stdout.split("other command:")[0]
    for option in options:
        block = body.split(f"  {option}", 1)[1].split("\n  --", 1)[0]
        assert "default" in block, option


def test_predict_help_lists_its_flags_and_an_example():
    result = run(["train.py", "predict", "--help"])
    assert result.returncode == 0
    for flag in ("--params", "--spec"):
        assert flag in result.stdout
    assert "train.py predict 1 0" in result.stdout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    for spec in ("xor", "moons_relu"):
        result = run(["train.py", "--spec", spec, "--epochs", "50", "--quiet", "--out",
                      str(base / spec)])
        assert result.returncode == 0, result.stderr
    return base


def test_predict_uses_the_network_its_params_file_names_and_says_so(two_runs):
    for spec in ("xor", "moons_relu"):
        params = two_runs / spec / "params.json"
        assert json.loads(params.read_text())["spec"] == spec
        result = run(["train.py", "predict", "1", "0", "--params", str(params)])
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{spec} ({params}): x = [1 0]")


def test_predict_refuses_a_params_file_of_another_network(two_runs):
    params = two_runs / "moons_relu" / "params.json"
    result = run(["train.py", "predict", "1", "0", "--params", str(params), "--spec", "xor"])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "moons_relu" in result.stderr and "xor" in result.stderr
    ok = run(["train.py", "predict", "1", "0", "--params", str(params), "--spec",
              "specs/moons_relu.toml"])
    assert ok.returncode == 0, ok.stderr


def test_predict_says_not_found_for_a_missing_params_file(tmp_path):
    result = run(["train.py", "predict", "1", "0", "--params", str(tmp_path / "nope.json")])
    assert result.returncode == 2 and "not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_takes_negative_numbers_as_inputs(two_runs):
    params = two_runs / "xor" / "params.json"
    result = run(["train.py", "predict", "-1e3", "-0.5", "--params", str(params)])
    assert result.returncode == 0, result.stderr
    assert "x = [-1000 -0.5]" in result.stdout


def test_derive_help_names_its_subcommands_and_their_flags():
    """The README's grade and check flags are reachable from `python -m derive --help`."""
    result = run(["-m", "derive", "--help"])
    assert result.returncode == 0
    for word in ("derive check", "derive grade", "--json", "--csv", "--module", "--tol"):
        assert word in result.stdout, word


@pytest.mark.parametrize(("flags", "needed"), [
    (["--nesterov"], "momentum"), (["--mom", "0.5"], "momentum"),
    (["--betas", "0.8,0.9", "--optimizer", "momentum"], "adam"), (["--eps", "1e-3"], "adam")])
def test_a_setting_of_another_optimizer_is_an_error_not_ignored(flags, needed, tmp_path):
    result = run(["train.py", *flags, "--epochs", "3", "--out", str(tmp_path / "out")])
    assert result.returncode == 2
    assert f"add --optimizer {needed}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_unknown_spec_lists_the_specs_instead_of_a_command_that_fails():
    result = run(["train.py", "--spec", "nosuch"])
    assert result.returncode == 2
    assert "no specs/nosuch.toml" in result.stderr and "xor_deep" in result.stderr
    assert "make derive" not in result.stderr


def test_report_for_another_network_than_the_run_says_so(tmp_path):
    assert run(["train.py", "--epochs", "5", "--quiet", "--out", str(tmp_path)]).returncode == 0
    result = run(["-m", "trainer.report", "--run", str(tmp_path), "--spec", "xor_mse"])
    assert result.returncode == 2
    assert "is a run of xor, not of xor_mse" in result.stderr
    assert "make train SPEC=specs/xor_mse.toml" in result.stderr
    assert not (tmp_path / "report.tex").exists()


def test_messages_name_what_was_wrong_where(tmp_path):
    """From a new-user trial: a spec file not yet derived, an --out that cannot be made, and
    an --init from another network each say so, in one line, naming the flag."""
    spec = tmp_path / "mine.toml"
    spec.write_text('name = "mine"\n')
    other = tmp_path / "digits_run"
    assert run(["train.py", "--spec", "iris", "--epochs", "3", "--quiet", "--out",
                str(other)]).returncode == 0
    cases = [(["--spec", str(spec)], f"no generated/mine.py; run `make derive SPEC={spec}`"),
             (["--out", "/proc/derive-nn-test/x"], "--out /proc/derive-nn-test/x: "),
             (["--init", str(other / "params.json")], "network 'iris', not of xor")]
    for flags, says in cases:
        result = run(["train.py", "--quiet", *flags] + (["--out", str(tmp_path / "o")]
                                                         if "--out" not in flags else []))
        assert result.returncode == 2 and says in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_second_run_into_a_relative_out_folder(tmp_path):
    """`make train` twice: --out out, relative, and there already (a new-user trial found
    the second run crashing); a relative folder still to be made works too."""
    for out in ("out", "out", "runs/seed3"):
        result = run([str(REPO / "train.py"), "--quiet", "--epochs", "5", "--out", out],
                     cwd=tmp_path)
        assert result.returncode == 0 and not result.stderr, result.stderr
        assert (tmp_path / out / "params.json").is_file()


def test_backend_python_without_a_plain_python_loop_is_refused(tmp_path):
    result = run(["train.py", "--spec", "moons_relu", "--backend", "python", "--out",
                  str(tmp_path / "o")])
    assert result.returncode == 2 and "has no plain-Python loop" in result.stderr
    assert "--backend numpy" in result.stderr and not (tmp_path / "o").exists()
