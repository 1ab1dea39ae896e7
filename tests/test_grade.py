"""`python -m derive grade`: a student's gradient formulas checked against the derivation.

The corpus (tests/grade_corpus/formulas.md) holds correct forms of every gradient in many
notations and the classic mistakes; whole notebooks, Markdown and TeX files are graded as a
student or an instructor would. The project's own generated formulas must grade 4/4: the
derivation and the grader check each other.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
from conftest import REPO, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import grade
from derive.grade import grade_text

CORPUS = REPO / "tests" / "grade_corpus"
PARAMS = ("W1", "w2", "b1", "b2")
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# What each mistake's diagnosis must say (the corpus names mistakes by these keys).
MISTAKES = {"extra-sigmoid": "an extra", "missing-1/N": "missing 1/N", "sign": "sign error",
            "transposed": "transposed", "index": "index mix-up", "missing-w": "missing the w",
            "missing-h": "missing the h", "mse": "this is the gradient of the squared error",
            "single": "divides by N but does not sum"}


def _cases() -> list[tuple[str, str, str, str]]:
    """(param, verdict, mistake, markdown) of every `### PARAM VERDICT [MISTAKE]` case."""
    text = (CORPUS / "formulas.md").read_text(encoding="utf-8")
    out = []
    for case in re.split(r"^### ", text, flags=re.M)[1:]:
        head, _, body = case.partition("\n")
        param, verdict, *mistake = head.split()
        out.append((param, verdict, mistake[0] if mistake else "", body))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def model():
    return grade.model_for("xor")


def _verdicts(text: str, model, suffix: str = ".md") -> dict[str, str]:
    return {name: r.verdict for name, r in grade_text(text, model, suffix).items()}


# ----------------------------------------------------------------------------- the corpus

def test_corpus_has_several_notations_and_every_mistake_for_every_parameter():
    for param in PARAMS:
        correct = [c for c in CASES if c[0] == param and c[1] == "correct"]
        assert len(correct) >= 5, param
        assert any(c[2] == "single" for c in correct), param
        mistakes = {c[2] for c in CASES if c[0] == param and c[1] == "wrong"}
        assert {"extra-sigmoid", "sign", "missing-1/N", "mse"} <= mistakes, param
        if param in ("W1", "b1"):
            assert {"missing-w", "missing-h"} <= mistakes, param
    assert {"transposed", "index"} <= {c[2] for c in CASES if c[0] == "W1"}
    assert len([c for c in CASES if c[1] == "unreadable"]) >= 4


@pytest.mark.parametrize("param,verdict,mistake,body", CASES,
                         ids=[f"{k}-{c[0]}-{c[1]}-{c[2] or 'plain'}"
                              for k, c in enumerate(CASES)])
def test_corpus_case(model, param, verdict, mistake, body):
    results = grade_text(body, model)
    result = results[param]
    assert result.verdict == verdict, grade.describe(result)
    if verdict == "wrong":
        assert mistake == "" or MISTAKES[mistake] in result.attempt.diagnosis
        example = result.attempt.counterexample
        assert example and example["yours"] != example["derived"]
        assert result.attempt.corrected.startswith(r"\frac{\partial L}")
    if verdict == "correct":
        assert result.attempt.single == (mistake == "single")
    others = {n: r.verdict for n, r in results.items() if n != param}
    assert set(others.values()) <= {"missing"}, others


def test_no_wrong_formula_of_the_corpus_is_ever_marked_correct(model):
    """All wrong and unreadable forms of a parameter in one document: never `correct`."""
    for param in PARAMS:
        bad = [c[3] for c in CASES if c[0] == param and c[1] != "correct"]
        assert bad
        for body in bad:
            assert grade_text(body, model)[param].verdict != "correct"
        assert grade_text("\n".join(bad), model)[param].verdict == "wrong"


# ----------------------------------------------------------------------------- whole files

@pytest.mark.parametrize("name", ["generated/xor.ipynb", "generated/gradients.md",
                                  "generated/gradients.tex"])
def test_the_projects_own_formulas_grade_four_of_four(model, name):
    result = grade.grade_path(REPO / name, model)
    assert {n: r.verdict for n, r in result.params.items()} == dict.fromkeys(PARAMS, "correct")
    assert result.score(18) == {"correct": 4, "of": 4, "share": 1.0, "points": 18.0,
                                "out_of": 18}
    for r in result.params.values():
        # element-wise, vector and batch-matrix form: all read, all right (not in the notebook)
        assert len(r.attempts) == (2 if name.endswith(".ipynb") else 3)
        assert all(a.symbolic for a in r.attempts)


@pytest.mark.parametrize("elementwise", [True, False])
@pytest.mark.parametrize("single", [True, False])
def test_the_corrected_formula_shown_to_a_student_grades_correct(model, elementwise, single):
    for param in PARAMS:
        latex = grade.corrected_latex(model, param, elementwise, single)
        result = grade_text(f"$${latex}$$", model)[param]
        assert result.verdict == "correct", (latex, grade.describe(result))
        assert result.attempt.single == single


@pytest.mark.parametrize("name,verdicts,points", [
    ("student_correct.ipynb", dict.fromkeys(PARAMS, "correct"), 18.0),
    ("student_mistakes.ipynb", {"W1": "wrong", "w2": "correct", "b1": "wrong", "b2": "wrong"},
     4.5),
    ("no_formulas.ipynb", dict.fromkeys(PARAMS, "missing"), 0.0),
    ("student_single.md", dict.fromkeys(PARAMS, "correct"), 18.0),
    ("student.tex", {"W1": "correct", "w2": "correct", "b1": "wrong", "b2": "wrong"}, 9.0),
])
def test_whole_documents(model, name, verdicts, points):
    result = grade.grade_path(CORPUS / name, model)
    assert {n: r.verdict for n, r in result.params.items()} == verdicts
    assert result.score(18)["points"] == points


def test_whole_documents_say_why(model):
    mistakes = grade.grade_path(CORPUS / "student_mistakes.ipynb", model).params
    assert "transposed" in mistakes["W1"].attempt.diagnosis
    assert "missing the h" in mistakes["b1"].attempt.diagnosis
    assert "an extra" in mistakes["b2"].attempt.diagnosis
    tex = grade.grade_path(CORPUS / "student.tex", model).params
    assert "missing 1/N" in tex["b1"].attempt.diagnosis  # the commented-out line is not read
    assert "sign error" in tex["b2"].attempt.diagnosis
    single = grade.grade_path(CORPUS / "student_single.md", model).params
    assert all(r.attempt.single for r in single.values())
    assert "single-sample form" in grade.describe(single["b2"])


def test_entries_given_one_by_one_must_cover_the_parameter(model):
    one = r"$$\frac{\partial L}{\partial w^{(2)}_1} = \frac{1}{N}\sum_n (\hat y_n - y_n) h_{n,1}$$"
    result = grade_text(one, model)["w2"]
    assert result.verdict == "missing" and "w2[1]" in result.note
    two = one + one.replace("_1", "_2").replace("h_{n,1}", "h_{n,2}")
    assert grade_text(two, model)["w2"].verdict == "correct"


def test_the_last_definition_before_a_formula_is_used(model):
    text = r"""$$\delta = y - \hat y$$ $$\delta = \hat y - y$$
    $$\frac{\partial L}{\partial b^{(2)}} = \delta$$"""
    assert grade_text(text, model)["b2"].verdict == "correct"


# ----------------------------------------------------------------------------- properties

ELEMENTWISE = {
    "W1": r"\frac{\partial L}{\partial W^{(1)}_{ij}}",
    "w2": r"\frac{\partial L}{\partial w^{(2)}_{i}}",
    "b1": r"\frac{\partial L}{\partial b^{(1)}_{i}}",
    "b2": r"\frac{\partial L}{\partial b^{(2)}}",
}


@st.composite
def notations(draw, param: str):
    """A correct gradient of `param` in a random mix of the notations students use."""
    letter = draw(st.sampled_from("nks"))
    single = draw(st.booleans())
    tagged = draw(st.booleans())  # x^{(n)}_j rather than x_{n,j}
    hat = draw(st.sampled_from([r"\hat{y}", r"\hat y", r"\widehat{y}", "a^{(2)}", "o"]))
    layer = draw(st.sampled_from(["({})", "[{}]"]))
    space = draw(st.sampled_from(["", r"\,", r"\;", r"\!", "~", " "]))
    times = draw(st.sampled_from([" ", r" \cdot ", r" \times ", " * "]))
    left, right = draw(st.sampled_from([("(", ")"), (r"\left(", r"\right)"),
                                        (r"\big(", r"\big)"), ("[", "]")]))

    def at(name: str, unit: str = "") -> str:
        """A per-sample quantity with its sample index (none in the single-sample form)."""
        unit_sub = f"_{{{unit}}}" if unit else ""
        if single:
            return name + unit_sub
        if tagged:  # x^{(n)}_j, a^{(2)(n)}
            if name.endswith("}") and "^{" in name:
                return name[:-1] + f"({letter})}}" + unit_sub
            return f"{name}^{{({letter})}}{unit_sub}"
        return f"{name}_{{{letter},{unit}}}" if unit else f"{name}_{{{letter}}}"

    def tag(name: str, number: int) -> str:
        return f"{name}^{{{layer.format(number)}}}"

    error = f"{left}{at(tag('a', 2) if hat == 'a^{(2)}' else hat)} - {at('y')}{right}"
    h_i, z_i = at("h", "i"), at(tag("z", 1), "i")
    derivative = draw(st.sampled_from([
        f"{h_i}{left}1 - {h_i}{right}",
        rf"\sigma'{left}{z_i}{right}",
        rf"\sigma({z_i}){left}1 - \sigma({z_i}){right}",
    ]))
    weight = draw(st.sampled_from([f"{tag('w', 2)}_i", "w_i"]))
    factors = {"W1": [error, weight, derivative, at("x", "j")], "w2": [error, h_i],
               "b1": [error, weight, derivative], "b2": [error]}[param]
    body = times.join(f"{space}{f}{space}" for f in factors)
    if not single:
        mean = draw(st.sampled_from([
            rf"\frac{{1}}{{N}} \sum_{{{letter}=1}}^{{N}}", rf"\frac1N \sum_{letter}",
            rf"\frac{{1}}{{4}}\sum_{{{letter}=1}}^{{4}}",
            rf"\frac{{1}}{{m}}\sum_{{{letter}=1}}^{{m}}",
            rf"\sum_{{{letter}=1}}^{{N}} \frac{{1}}{{N}}"]))
        body = f"{mean} {body}"
    target = {"W1": tag("W", 1) + "_{ij}", "w2": tag("w", 2) + "_{i}",
              "b1": tag("b", 1) + "_{i}", "b2": tag("b", 2)}[param]
    loss = draw(st.sampled_from(["L", r"\mathcal{L}", "J", "E", r"\ell"]))
    lhs = draw(st.sampled_from([
        rf"\frac{{\partial {loss}}}{{\partial {target}}}", rf"\frac{{d{loss}}}{{d{target}}}",
        rf"\partial {loss} / \partial {target}", rf"\nabla_{{{target}}} {loss}"]))
    wrap = draw(st.sampled_from(["$${}$$", r"\[{}\]", r"\begin{{equation}}{}\end{{equation}}",
                                 "${}$", r"\begin{{align}}{}\end{{align}}"]))
    formula = f"{lhs} = {body}" if "align" not in wrap else f"{lhs} &= {body}"
    return wrap.format(formula), single


@pytest.mark.parametrize("param", PARAMS)
def test_correct_formulas_in_any_mix_of_notations_are_correct(model, param):
    @SETTINGS
    @given(notations(param))
    def check(drawn):
        text, single = drawn
        result = grade_text(text, model)[param]
        assert result.verdict == "correct", (text, grade.describe(result))
        assert result.attempt.single == single

    check()


@SETTINGS
@given(st.sampled_from(PARAMS), st.fractions(-8, 8, max_denominator=6).filter(lambda c: c != 1))
def test_a_correct_formula_scaled_by_any_factor_but_one_is_wrong(model, param, factor):
    body = grade.corrected_latex(model, param, True, False)
    lhs, rhs = body.split(" = ", 1)
    scaled = rf"$${lhs} = \frac{{{factor.numerator}}}{{{factor.denominator}}} \left({rhs}\right)$$"
    result = grade_text(scaled, model)[param]
    assert result.verdict == "wrong", scaled
    if factor == -1:
        assert "sign error" in result.attempt.diagnosis
    if factor == 4:
        assert "missing 1/N" in result.attempt.diagnosis


MUTATIONS = [
    (r"\hat{y}_n - y_n", r"y_n - \hat{y}_n"),  # sign
    (r"\frac{1}{N} ", ""),  # sum instead of mean
    (r"\left(\hat{y}_n - y_n\right)", r"\left(\hat{y}_n - y_n\right) \hat{y}_n (1 - \hat{y}_n)"),
    (r"w^{(2)}_{i} ", ""),
    (r"\left(1 - h_{n,i}\right)", ""),
    (r"x_{n,j}", r"x_{n,i}"),
    (r"h_{n,i}", r"x_{n,i}"),
    (r"\sum_{n=1}^{N} ", r"\sum_{n=1}^{3} "),
]


@pytest.mark.parametrize("param", PARAMS)
def test_mutations_of_a_correct_formula_are_never_correct(model, param):
    body = grade.corrected_latex(model, param, True, False)
    mutated = 0
    for old, new in MUTATIONS:
        if old in body:
            mutated += 1
            result = grade_text(f"$${body.replace(old, new, 1)}$$", model)[param]
            assert result.verdict == "wrong", (old, new, grade.describe(result))
    assert mutated >= 3


# ----------------------------------------------------------------------------- hostile input

LATEX_BITS = [r"\frac", r"\sum", "_", "^", "{", "}", "(", ")", r"\left(", r"\right)", r"\hat",
              "y", "x", "h", "W", "w", "b", "n", "i", "j", "N", "1", "2", "-", "+", "=", r"\cdot",
              r"\odot", r"\sigma", "'", r"\top", "T", r"\begin{bmatrix}", r"\end{bmatrix}", "&",
              r"\\", r"\delta", "$", r"\partial", "L", r"\mathbf", r"\vec", r"\text{and}", ",",
              r"\quad", "e", r"\exp", r"\log", "/", "*", "[", "]", r"\begin{align}",
              r"\end{align}", "%", "`", "\n", r"\[", r"\]", "0.5", "99999999999", "^{999}"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(LATEX_BITS), max_size=40), st.sampled_from(PARAMS))
def test_garbage_latex_never_raises_and_never_passes(model, bits, param):
    rhs = " ".join(bits)
    lhs = ELEMENTWISE[param]
    for text in (f"$${lhs} = {rhs}$$", f"$${rhs}$$", rhs):
        results = grade_text(text, model)
        assert {r.verdict for r in results.values()} <= {"correct", "wrong", "missing",
                                                        "unreadable"}
        grade_text(text, model, ".tex")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["cells", "cell_type", "source",
                                                       "worksheets", "markdown"]) | st.text(
                                                           max_size=5), inner, max_size=4),
                    max_leaves=20))
def test_malformed_notebooks_are_bad_input_or_graded_never_a_crash(model, data):
    for value in (data, {"cells": data}, {"cells": [{"cell_type": "markdown", "source": data}]}):
        try:
            grade_text(json.dumps(value), model, ".ipynb")
        except grade.BadInput as error:
            assert "not a notebook" in str(error)


def test_pathological_formulas_stay_bounded(model):
    nested_sums = r"\sum_n " * 40 + "y_n"
    deep = "(" * 500 + "y" + ")" * 500
    huge_power = r"(\hat y - y)^{100000}"
    long = " + ".join([r"\hat y"] * 3000)
    for rhs in (nested_sums, deep, huge_power, long, r"\frac{1}{0}", r"10^{10^{10}}"):
        result = grade_text(rf"$$\frac{{\partial L}}{{\partial b^{{(2)}}}} = {rhs}$$",
                            model)["b2"]
        assert result.verdict in ("unreadable", "wrong")


# ----------------------------------------------------------------------------- the command

def _one_error_line(err: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and "Traceback" not in err


def test_command_grades_a_notebook_and_exits_0():
    result = run(["-m", "derive", "grade", "generated/xor.ipynb"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("generated/xor.ipynb: 4/4 correct, 18/18 points")
    assert len(result.stdout.strip().splitlines()) == 5


def test_command_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.ipynb").write_text("{not json")
    (tmp_path / "latin1.md").write_bytes(b"caf\xe9 $$x$$")
    for argv in (["missing.ipynb"], [str(tmp_path / "notes.txt")],
                 [str(tmp_path / "broken.ipynb")], [str(tmp_path / "latin1.md")],
                 ["--spec", "nonexistent", str(CORPUS / "student_single.md")],
                 [str(tmp_path / "empty_folder_does_not_exist")]):
        assert grade.main(argv) == 2, argv
        captured = capsys.readouterr()
        assert _one_error_line(captured.err), (argv, captured.err)
    (tmp_path / "empty").mkdir()
    assert grade.main([str(tmp_path / "empty")]) == 2
    assert "no .ipynb" in capsys.readouterr().err


def test_command_refuses_a_file_over_the_size_limit(tmp_path, capsys, monkeypatch):
    big = tmp_path / "big.md"
    big.write_text("$$x$$" * 100)
    monkeypatch.setattr(grade, "MAX_FILE_BYTES", 100)
    assert grade.main([str(big)]) == 2
    assert "too large" in capsys.readouterr().err


def test_command_grades_a_folder_into_json_and_csv(tmp_path, capsys):
    table = tmp_path / "grades.csv"
    assert grade.main([str(CORPUS), "--json", "--csv", str(table)]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    files = sorted(o["file"].rsplit("/", 1)[1] for o in objects)
    assert files == ["formulas.md", "no_formulas.ipynb", "student.tex", "student_correct.ipynb",
                     "student_mistakes.ipynb", "student_single.md"]
    mistakes = next(o for o in objects if o["file"].endswith("student_mistakes.ipynb"))
    assert mistakes["score"] == {"correct": 1, "of": 4, "share": 0.25, "points": 4.5,
                                 "out_of": 18.0}
    b2 = mistakes["formulas"]["b2"]
    assert b2["verdict"] == "wrong" and "an extra" in b2["diagnosis"]
    assert b2["latex"].startswith(r"\frac{\partial L}{\partial b^{(2)}}")
    assert b2["counterexample"]["point"]["x"] and b2["corrected"]
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 6
    row = next(r for r in rows if r["file"].endswith("student_mistakes.ipynb"))
    assert (row["W1"], row["w2"], row["b1"], row["b2"], row["points"]) == (
        "wrong", "correct", "wrong", "wrong", "4.5")
    assert "transposed" in row["W1_diagnosis"]


def test_command_points_flag_splits_any_total(capsys):
    assert grade.main([str(CORPUS / "student.tex"), "--points", "10"]) == 0
    assert "2/4 correct, 5/10 points" in capsys.readouterr().out


def test_unreadable_formulas_are_shown_with_their_latex(model):
    text = r"$$\frac{\partial L}{\partial b^{(2)}} = \hat y \ominus y$$"
    result = grade_text(text, model)["b2"]
    assert result.verdict == "unreadable"
    assert r"\ominus" in grade.describe(result) and "could not read" in grade.describe(result)


def test_the_readme_example_is_real_output():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Check your formulas before you hand in", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    name = block.split(":", 1)[0]
    result = run(["-m", "derive", "grade", name])
    assert result.returncode == 0, result.stderr
    for line in block.strip().splitlines():
        for fragment in line.strip().split("..."):
            assert fragment.strip(" ,|") in result.stdout, fragment


def test_another_networks_own_formulas_and_its_loss_mistake():
    """The squared-error network (linear output): its own formulas are right, the
    cross-entropy's output error y_hat - y is half of its 2 (y_hat - y)."""
    mse = grade.model_for("xor_mse")
    result = grade.grade_path(REPO / "generated" / "xor_mse.md", mse)
    assert {r.verdict for r in result.params.values()} == {"correct"}
    bce = r"$$\frac{\partial L}{\partial b^{(2)}} = \frac{1}{N}\sum_{n=1}^{N} (\hat y_n - y_n)$$"
    wrong = grade_text(bce, mse)["b2"]
    assert wrong.verdict == "wrong"
    assert "off by a constant factor 0.5 (the loss is" in wrong.attempt.diagnosis


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["xor_tanh4", "xor_deep", "moons_relu"])
def test_every_shipped_networks_own_formulas_grade_full_marks(spec):
    from derive.__main__ import output_names

    model = grade.model_for(spec)
    for kind in ("md", "notebook"):
        result = grade.grade_path(REPO / "generated" / output_names(model.spec)[kind], model)
        assert {r.verdict for r in result.params.values()} == {"correct"}, spec


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([".ipynb", ".md", ".tex"]),
       st.one_of(st.binary(max_size=300),
                 st.lists(st.sampled_from(LATEX_BITS + ['"cells"', ":", '"source"', ", "]),
                          max_size=40).map(lambda bits: "".join(bits).encode())))
def test_command_on_random_files_exits_0_or_2_with_one_line(tmp_path, capsys, suffix, data):
    path = tmp_path / f"submission{suffix}"
    path.write_bytes(data)
    code = grade.main([str(path)])
    captured = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert _one_error_line(captured.err)
    else:
        assert captured.out.startswith(str(path)) and not captured.err


def test_a_folder_skips_hidden_folders(tmp_path, capsys):
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "old.ipynb").write_text("{broken")
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "answers.md").write_text(r"$$\frac{dL}{db_2} = \hat y - y$$")
    assert grade.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "answers.md: 1/4 correct, 4.5/18 points" in out and "old.ipynb" not in out


def test_a_gradient_of_no_parameter_it_can_tell_is_noted_not_dropped(tmp_path, capsys):
    path = tmp_path / "answers.md"
    path.write_text(r"$$\frac{\partial L}{\partial b} = \hat y - y$$")
    assert grade.main([str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["formulas"]["b2"]["verdict"] == "missing"
    assert len(result["notes"]) == 1 and "which layer" in result["notes"][0]


def test_the_executed_hand_in_notebook_grades_four_of_four(model):
    executed = REPO / "out" / "xor.ipynb"
    if not executed.exists():
        pytest.skip("no out/xor.ipynb here: `make notebook` writes it")
    result = grade.grade_path(executed, model)
    assert {r.verdict for r in result.params.values()} == {"correct"}


def test_a_network_derived_at_the_matrix_level_is_refused_in_one_line(tmp_path):
    """digits (softmax) is not read by the grader: one line that says so, not a KeyError."""
    answers = tmp_path / "answers.md"
    answers.write_text("$$\\Delta^{(2)} = \\frac{1}{N}(\\hat{Y} - Y)$$\n")
    result = run(["-m", "derive", "grade", "--spec", "digits", str(answers)])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "derived at the matrix level only" in result.stderr and "Traceback" not in result.stderr


def test_a_large_networks_counterexample_point_is_not_printed_number_by_number(tmp_path):
    """moons_relu's 65 parameters and the data: --json keeps them, the text says where."""
    answers = tmp_path / "answers.md"
    answers.write_text("$$\\frac{\\partial L}{\\partial w^{(2)}_j} = \\frac{2}{N} \\sum_n "
                       "(\\hat{y}_n - y_n) h_{nj}$$\n")
    text = run(["-m", "derive", "grade", "--spec", "moons_relu", str(answers)]).stdout
    assert "off by a constant factor 2" in text and "a random point of 77 numbers" in text
    record = json.loads(run(["-m", "derive", "grade", "--spec", "moons_relu", "--json",
                             str(answers)]).stdout)
    assert len(record["formulas"]["w2"]["counterexample"]["point"]["W1"]) == 16


def test_one_samples_y_next_to_a_matrix_of_every_sample_is_unreadable_not_wrong(tmp_path):
    """From a new-user trial: lowercase y_hat - y meant as the column of all samples was
    marked wrong; the notation does not say which, so it is unreadable, and the capital
    batch form of the same answer is correct."""
    lower = tmp_path / "lower.md"
    lower.write_text("$$\\delta^{(2)} = \\hat{y} - y$$\n"
                     "$$\\frac{\\partial L}{\\partial \\vec{w}^{(2)}} = \\frac{1}{N} H^\\top "
                     "\\delta^{(2)}$$\n"
                     "$$\\frac{\\partial L}{\\partial b^{(2)}} = \\frac{1}{N}\\mathbf{1}^\\top "
                     "\\delta^{(2)}$$\n")
    upper = tmp_path / "upper.md"
    upper.write_text(lower.read_text().replace("\\hat{y} - y", "\\hat{Y} - Y")
                     .replace("\\delta^{(2)}", "\\Delta^{(2)}"))
    record = json.loads(run(["-m", "derive", "grade", "--json", str(lower)]).stdout)
    for name in ("w2", "b2"):
        assert record["formulas"][name]["verdict"] == "unreadable"
        assert "without a sample index" in record["formulas"][name]["diagnosis"]
    record = json.loads(run(["-m", "derive", "grade", "--json", str(upper)]).stdout)
    assert [record["formulas"][n]["verdict"] for n in ("w2", "b2")] == ["correct", "correct"]


def test_a_notebook_of_another_network_is_not_graded_against_xor():
    """A digits notebook this tool wrote says in its metadata which network it is."""
    result = run(["-m", "derive", "grade", str(REPO / "generated" / "digits.ipynb")])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "the notebook of network digits" in result.stderr and "--spec digits" in result.stderr
