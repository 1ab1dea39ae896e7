"""`make mutate`: plant known bugs one at a time in a scratch copy; a test must catch each.

A small mutation check of the test suite itself (not part of `make test`). Each planted bug
names the file, the exact text it replaces (which must occur exactly once, so a mutation
cannot silently rot when the code changes), the new text, whether `python -m derive` must
rerun after planting (a bug in derive/ or a template reaches generated/ only that way),
and a narrow selection of tests. For every bug, in a fresh copy of the repository (git
ls-files plus generated/), the selection runs with `-x` under this repository's .venv
python; one line per bug says `caught by <first failing test>` or `NOT caught`. Exit 1 if
any bug is not caught or any mutation no longer applies. A control run first checks that
every selection passes without a planted bug (else a failure would prove nothing).

    .venv/bin/python tests/mutate.py [NAME ...]    # all bugs, or only those named
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
EVERY_SPEC = ("--all",)
# test_derivation.py without its three slowest checks (re-deriving everything, ruff)
PROOFS = ("tests/test_derivation.py", "-k", "not byte_identical and not if_stale and not ruff")
ENSEMBLES = ("tests/test_speed_paths.py", "-k", "ensemble and not memory and not flags")


@dataclass(frozen=True)
class Mutation:
    """One planted bug: `old` (found exactly once in `file`) becomes `new`."""

    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions
    rederive: tuple[str, ...] = ()  # arguments of `python -m derive`; () = no rederive


MUTATIONS = (
    # --- spec parsing
    Mutation(
        "spec: hidden-layer activations reversed (xor_deep: sigmoid then tanh)",
        "derive/spec.py",
        "hidden_activations=tuple(activations), output_activation=output,",
        "hidden_activations=tuple(reversed(activations)), output_activation=output,",
        ("tests/test_spec_referee.py",), EVERY_SPEC),
    # --- derivation
    Mutation(
        "derivation: MSE loss defined as (y_hat - y)^2 / 2 (derived consistently)",
        "derive/functions.py",
        'Loss("mse", "squared error", lambda y_hat, y: (y_hat - y) ** 2, "mse_loss", "real"),',
        'Loss("mse", "squared error", lambda y_hat, y: (y_hat - y) ** 2 / 2, "mse_loss", '
        '"real"),',
        ("tests/test_spec_referee.py", "-k", "xor_mse"), ("specs/xor_mse.toml",)),
    Mutation(
        "derivation: extra y_hat (1 - y_hat) in the output delta (so in dL/db2)",
        "derive/gradients.py",
        "    delta_out = output_delta(network, out.z[0])\n",
        "    delta_out = output_delta(network, out.z[0]) * network.y_hat * (1 - network.y_hat)\n",
        (*PROOFS, "tests/test_generated_gradients.py"), EVERY_SPEC),
    Mutation(
        "derivation: the symbolic proof's tolerance loosened to rtol 1e9",
        "derive/gradients.py",
        "    suspects = np.flatnonzero(~np.isclose(got, want, rtol=1e-9, atol=1e-12))",
        "    suspects = np.flatnonzero(~np.isclose(got, want, rtol=1e9, atol=1e-12))",
        PROOFS),
    Mutation(
        "derivation: prove_by_differences tolerance loosened to rtol 1e5",
        "derive/gradients.py",
        "            if not np.isclose(exact, approx, rtol=1e-5, atol=1e-8):",
        "            if not np.isclose(exact, approx, rtol=1e5, atol=1e-8):",
        PROOFS),
    Mutation(
        "derivation: networks over 40 parameters left unproved",
        "derive/gradients.py",
        "            pass\n    prove_by_differences(gradients)\n",
        "            pass\n    return\n",
        PROOFS),
    # --- printers
    Mutation(
        "printer: extra y_hat (1 - y_hat) in dL/db2 of the unit-by-unit NumPy code (xor)",
        "derive/codegen.py",
        'items = [f"np.mean({printer.doprint(e)})" for e in gradients.params[param.name]]',
        "items = [f\"np.mean({printer.doprint(e)}"
        "{'*y_hat*(1 - y_hat)' if param.name == 'b2' else ''})\" "
        "for e in gradients.params[param.name]]",
        ("tests/test_generated_gradients.py",), ("specs/xor.toml",)),
    Mutation(
        "printer: extra y_hat (1 - y_hat) in the output bias gradient of matrix code",
        "derive/codegen.py",
        'grads.append(Line(layer.bias.name, f"np.mean({delta})"))',
        'grads.append(Line(layer.bias.name, f"np.mean({delta}*y_hat*(1 - y_hat))"))',
        ("tests/test_spec_referee.py",), EVERY_SPEC),
    Mutation(
        "printer: .mean(axis=0) to .sum(axis=0) in a hidden bias gradient (matrix code)",
        "derive/codegen.py",
        'grads.append(Line(layer.bias.name, f"{delta}.mean(axis=0)"))',
        'grads.append(Line(layer.bias.name, f"{delta}.sum(axis=0)"))',
        ("tests/test_spec_referee.py",), EVERY_SPEC),
    Mutation(
        "registry: C softplus without fabs (wrong loss for negative logits)",
        "derive/functions.py",
        'c="fmax(z, 0.0) + log1p(exp(-fabs(z)))",',
        'c="fmax(z, 0.0) + log1p(exp(-z))",',
        ("tests/test_speed_paths.py::test_generated_loops_equal_the_numpy_loop",), EVERY_SPEC),
    # --- templates
    Mutation(
        "C template: update `-=` to `+=`",
        "derive/templates/train_loop.c.j2",
        "        {{ e.name }} -= lr * (g_{{ e.name }} / n);",
        "        {{ e.name }} += lr * (g_{{ e.name }} / n);",
        ("tests/test_speed_paths.py::test_generated_loops_equal_the_numpy_loop",), EVERY_SPEC),
    Mutation(
        "plain-Python loop template: the gradient sum not divided by n",
        "derive/templates/training.py.j2",
        "        {{ name }} -= lr * (g_{{ name }} / n)",
        "        {{ name }} -= lr * g_{{ name }}",
        ("tests/test_speed_paths.py::test_generated_loops_equal_the_numpy_loop",), EVERY_SPEC),
    Mutation(
        "module template: loss() sums the per-sample losses instead of averaging",
        "derive/templates/numpy_model.py.j2",
        "    return float(np.mean({{ sample_loss }}))",
        "    return float(np.sum({{ sample_loss }}))",
        ("tests/test_spec_referee.py",), EVERY_SPEC),
    Mutation(
        "ensemble template: first solved epoch off by one",
        "derive/templates/training.py.j2",
        "            first_solved[part][newly] = epoch\n",
        "            first_solved[part][newly] = epoch + 1\n",
        ENSEMBLES, ("specs/xor.toml",)),
    # --- the notebook
    Mutation(
        "notebook template: eta twice the spec's learning rate",
        "derive/templates/notebook.j2",
        "eta = {{ spec.training.lr }}  # learning rate",
        "eta = {{ 2 * spec.training.lr }}  # learning rate",
        ("tests/test_notebook.py",), EVERY_SPEC),
    Mutation(
        "notebook template: seed is the spec's seed + 2",
        "derive/templates/notebook.j2",
        "seed = {{ spec.training.seed }}",
        "seed = {{ spec.training.seed + 2 }}",
        ("tests/test_notebook.py",), EVERY_SPEC),
    # --- the trainer
    Mutation(
        "trainer: plain gradient descent on the NumPy loop takes half a step",
        "trainer/optim.py",
        "    return {k: params[k] - opt.lr * grads[k] for k in params}",
        "    return {k: params[k] - opt.lr * grads[k] / 2 for k in params}",
        ("tests/test_speed_paths.py::test_generated_loops_equal_the_numpy_loop",)),
    Mutation(
        "trainer: initialisation bound 1/fan_in instead of 1/sqrt(fan_in)",
        "trainer/loops.py",
        "        bound = 1.0 / math.sqrt(fan_in)",
        "        bound = 1.0 / fan_in",
        ("tests/test_spec_referee.py",)),
    # --- ensembles
    Mutation(
        "ensemble: every network drawn from the first seed's generator",
        "trainer/loops.py",
        "        draws[:, k] = np.random.default_rng(seed + k).random(sum(sizes))",
        "        draws[:, k] = np.random.default_rng(seed).random(sum(sizes))",
        ENSEMBLES),
    # --- matrix-level networks, mini-batches, real data
    Mutation(
        "generated loop: an epoch's loss is its last batch's, not the mean of its batches",
        "derive/templates/matrix_training.py.j2",
        "        losses[epoch] = sum(batch_losses) / len(batch_losses)",
        "        losses[epoch] = batch_losses[-1]",
        ("tests/test_minibatch.py", "-k", "generated or readmes"),
        EVERY_SPEC),
    Mutation(
        "generated loop: the full-data loss taken after the epoch's first step",
        "derive/templates/matrix_training.py.j2",
        "{% endfor %}\n        losses[epoch] = ",
        "{% endfor %}\n            if full_losses is not None and len(batch_losses) == 1:\n"
        "                full_losses[epoch] = loss(current(), X_all, y)\n"
        "        losses[epoch] = ",
        ("tests/test_minibatch.py", "-k", "full_loss"), EVERY_SPEC),
    Mutation(
        "verdict: a mini-batch run compared with its first epoch's mean batch loss",
        "trainer/loops.py",
        "    if not math.isfinite(final) or final > 10.0 * start_loss + 1.0:",
        "    if not math.isfinite(final) or final > 10.0 * history[0] + 1.0:",
        ("tests/test_minibatch.py", "-k", "blows_up")),
    Mutation(
        "differences: a ReLU kink inside the step refuses a right gradient",
        "derive/verify.py",
        "    for h in (1e-4, 1e-6, 1e-8):",
        "    for h in (1e-4,):",
        ("tests/test_matrix_code.py", "-k", "kink")),
    Mutation(
        "notebook: its mini-batch order drawn from the initialisation's stream",
        "derive/templates/matrix_notebook.j2",
        "order_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))",
        "order_rng = np.random.default_rng(seed)",
        ("tests/test_notebook.py", "-k", "trains_as_train_py and digits"), ("specs/digits.toml",)),
    Mutation(
        "report: the confusion matrix left out of pdflatex's folder",
        "trainer/report.py",
        'FIGURES = ("loss.png", "boundary.png", "confusion.png")',
        'FIGURES = ("loss.png", "boundary.png")',
        ("tests/test_report.py", "-k", "softmax")),
)


def scratch_copy(target: Path) -> None:
    """The repository's files (tracked, or new and not ignored) and generated/, as they are
    in the working tree now, into target."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    paths = {p for p in listed if p} | {p.relative_to(REPO).as_posix()
                                        for p in (REPO / "generated").rglob("*")
                                        if p.is_file() and "__pycache__" not in p.parts}
    for relative in sorted(paths):
        source = REPO / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)


def plant(root: Path, mutation: Mutation) -> None:
    """Replace the mutation's text, which must occur exactly once."""
    path = root / mutation.file
    text = path.read_text(encoding="utf-8")
    count = text.count(mutation.old)
    if count != 1:
        raise LookupError(f"{mutation.file}: the text to replace occurs {count} times, "
                          f"not once: {mutation.old!r}")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")


FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)
SKIPPED = re.compile(r"(\d+) skipped")


def run_tests(root: Path, selection: tuple[str, ...], env: dict[str, str],
              first_only: bool = True) -> tuple[int, str]:
    """pytest's exit code and output for a selection (`make test`'s: not the slow ones)."""
    result = subprocess.run(
        [str(PYTHON), "-m", "pytest", *(["-x"] if first_only else []), "-q", "-p",
         "no:cacheprovider", "-m", "not slow", *selection], cwd=root, env=env,
        capture_output=True, text=True, timeout=900)
    return result.returncode, result.stdout + result.stderr


def control(selections: list[tuple[str, ...]], env: dict[str, str]) -> list[str]:
    """Every selection must pass on the unmutated copy, or a failure proves nothing."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        root = Path(tmp) / "repo"
        scratch_copy(root)
        for selection in selections:
            code, output = run_tests(root, selection, env, first_only=False)
            if code != 0:
                failed = FAILED.search(output)
                problems.append(f"{' '.join(selection)}: exit {code} without any planted bug"
                                f"{f' ({failed.group(1)})' if failed else ''}")
    return problems


def check(mutation: Mutation, env: dict[str, str]) -> tuple[bool, str]:
    """(caught, one-line verdict) for one planted bug, in a fresh scratch copy."""
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        root = Path(tmp) / "repo"
        scratch_copy(root)
        plant(root, mutation)
        refused = ""
        if mutation.rederive:
            result = subprocess.run([str(PYTHON), "-m", "derive", *mutation.rederive],
                                    cwd=root, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or ["failed"])[-1]
                last = last.removeprefix("derive: error: ")
                last = last if len(last) <= 60 else last[:57] + "..."
                refused = f"`python -m derive {' '.join(mutation.rederive)}` refused: {last}"
        code, output = run_tests(root, mutation.tests, env)
        failed = FAILED.search(output)
        # 1: a test failed; 2: collection stopped by an error (e.g. the bug breaks an import)
        if code in (1, 2) and failed:
            verdict = f"caught by {failed.group(1)}"
            return True, verdict + (f" (and {refused})" if refused else "")
        if code != 0:  # 3 internal error, 4 usage error (a test file gone), 5 nothing selected
            tail = (output.strip().splitlines() or ["?"])[-1]
            raise LookupError(f"pytest {' '.join(mutation.tests)} exited {code}: {tail}")
        if refused:
            return True, f"caught by {refused}"
        skipped = SKIPPED.search(output)
        return False, "NOT caught" + (f" ({skipped.group(1)} skipped)" if skipped else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only mutations whose name contains this")
    parser.add_argument("--no-control", action="store_true",
                        help="skip the control run of every selection without a planted bug")
    args = parser.parse_args(argv)
    selected = [m for m in MUTATIONS
                if not args.names or any(n in m.name for n in args.names)]
    if not selected:
        print(f"mutate: no mutation matches {args.names}", file=sys.stderr)
        return 2
    if not PYTHON.is_file():
        print(f"mutate: {PYTHON} is missing; run `make setup` first", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutate-cache-") as cache:
        # derandomized hypothesis without shrinking (tests/conftest.py's "mutate" profile):
        # the same verdicts every run, soon; a private build cache for the mutated C loops
        env = {**os.environ, "HYPOTHESIS_PROFILE": "mutate", "XDG_CACHE_HOME": cache,
               "PYTHONDONTWRITEBYTECODE": "1"}
        if not args.no_control:
            selections = list(dict.fromkeys(m.tests for m in selected))
            problems = control(selections, env)
            for problem in problems:
                print(f"mutate: control run failed: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"control: the {len(selections)} test selections pass without a planted "
                  f"bug [{time.perf_counter() - start:.0f} s]", flush=True)
        missed, rotted = 0, 0
        for mutation in selected:
            began = time.perf_counter()
            try:
                caught, verdict = check(mutation, env)
            except LookupError as error:
                caught, verdict = False, f"MUTATION DOES NOT APPLY: {error}"
                rotted += 1
            missed += not caught
            print(f"{mutation.name}: {verdict} [{time.perf_counter() - began:.0f} s]",
                  flush=True)
    print(f"mutate: {len(selected) - missed} of {len(selected)} planted bugs caught"
          f"{f', {rotted} no longer apply' if rotted else ''} "
          f"in {time.perf_counter() - start:.0f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
