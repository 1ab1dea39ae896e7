"""The README's promises held against a hostile user: no code from data, generated files
checked before they run, runs that share a folder, bounded inputs, one line and the right
exit code everywhere."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, copy_project, run

from derive.__main__ import render_all
from derive.files import ESCAPES
from derive.spec import SpecError, load_spec, parse_spec

PAYLOADS = [
    'x"""; import os; os.system("touch {marker}"); """y',
    "*/ __attribute__((constructor)) static void f(void){{system(\"touch {marker}\");}} /*",
    '*/ #include </etc/passwd> /*',
    'a";import os;os.system("touch {marker}");"',
    "line\nbreak = __import__('os').system('touch {marker}')",
    r"}\input{/etc/passwd}\def\x{y}$ <script>alert(1)</script> --> %",
    "'''; import os; os.system('touch {marker}') #",
]


def _one_line_error(result: subprocess.CompletedProcess) -> bool:
    lines = result.stderr.strip().splitlines()
    return len(lines) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_from_a_spec_never_becomes_code(tmp_path, payload):
    """Even past validation (which refuses these descriptions), every output keeps the text
    as text: the module and C loop compile and run without running the payload."""
    marker = tmp_path / "PWNED"
    text = payload.replace("{marker}", str(marker)).replace("{{", "{").replace("}}", "}")
    spec = dataclasses.replace(load_spec("xor"), description=text, source=text)
    outputs = render_all(spec)
    module = tmp_path / "hostile.py"
    module.write_text(outputs["xor.py"])
    result = run(["-c", f"import runpy; runpy.run_path({str(module)!r})"])
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    c_source = tmp_path / "hostile.c"
    c_source.write_text(outputs["xor.c"])
    comment = outputs["xor.c"].split("*/", 1)[0]
    assert "#include </etc" not in outputs["xor.c"] and "constructor" not in comment[3:] or \
        "* /" in comment
    if shutil.which("cc"):
        build = subprocess.run(["cc", "-fsyntax-only", "-Wall", str(c_source)],
                               capture_output=True, text=True)
        assert build.returncode == 0, build.stderr
    tex = outputs["gradients.tex"].split(r"\textbf{Network.}", 1)[1].split("\n", 1)[0]
    assert "\\input" not in tex.replace(r"\textbackslash{}", "")  # backslashes are text
    assert "<script>" not in outputs["gradients.md"] and "$ <" not in outputs["gradients.md"]


def test_escapes_keep_every_character_out_of_the_code():
    hostile = 'a"\\\n\'*/--><$%_{}'
    assert eval(ESCAPES["py_str"](hostile)) == hostile.replace("\n", "")  # noqa: S307
    assert "*/" not in ESCAPES["c_comment"](hostile) and "\n" not in ESCAPES["c_comment"](hostile)
    assert "-->" not in ESCAPES["html_comment"](hostile)


@pytest.mark.parametrize("description", [PAYLOADS[0], PAYLOADS[1], "a\nb", "x" * 201])
def test_spec_validation_refuses_code_like_descriptions(tmp_path, description):
    spec = tmp_path / "evil.toml"
    text = (REPO / "specs" / "xor.toml").read_text().replace('name = "xor"', 'name = "evil"')
    text = text.replace('description = "The assignment', 'description = "The assignment')
    lines = [line for line in text.splitlines() if not line.startswith("description")]
    lines.insert(0, f"description = {json.dumps(description)}")
    spec.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError, match="description"):
        load_spec(spec)


@pytest.mark.parametrize(("name", "text"), [
    ("numpy", None), ("os", None), ("train", None),
    ("deep", "[a]\n" * 0 + "x = " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("digits", "inputs = " + "9" * 5000 + "\n"),
    ("wide", None), ("tall", None),
])
def test_spec_limits_are_one_line(tmp_path, name, text):
    base = (REPO / "specs" / "xor.toml").read_text().replace('name = "xor"', f'name = "{name}"')
    if name == "wide":
        base = base.replace("hidden = [2]", "hidden = [4097]")
    if name == "tall":
        base = base.replace("hidden = [2]", "hidden = [1]" if False else "hidden = " +
                            str([1] * 2000))
    path = tmp_path / f"{name}.toml"
    path.write_text(text if text is not None else base)
    with pytest.raises(SpecError) as caught:
        parse_spec(path, path.read_text())
    assert "\n" not in str(caught.value)


def test_code_appended_after_a_copied_hash_line_never_runs(tmp_path):
    project = copy_project(tmp_path)
    assert run(["train.py", "--epochs", "2", "--quiet"], cwd=project).returncode == 0
    module = project / "generated" / "xor.py"
    text = module.read_text()
    stamp = next(line for line in text.splitlines() if line.startswith("MODULE_SHA256 = "))
    marker = tmp_path / "PWNED"
    module.write_text(text + f"{stamp}\nopen({str(marker)!r}, 'w').close()\n")
    for args in (["train.py", "--epochs", "2", "--quiet"], ["train.py", "predict", "1", "0"]):
        result = run(args, cwd=project)
        assert result.returncode == 2 and "edited by hand" in result.stderr
        assert _one_line_error(result)
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the C loop is not built")
def test_a_hand_edited_c_loop_is_refused(tmp_path):
    project = copy_project(tmp_path)
    source = project / "generated" / "xor.c"
    source.write_text(source.read_text().replace("-= lr", "+= lr"))
    result = run(["train.py", "--epochs", "2", "--backend", "c"], cwd=project,
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 2 and "xor.c was edited by hand" in result.stderr
    assert _one_line_error(result)


def test_a_network_that_outgrows_its_c_loop_leaves_no_stale_one(tmp_path):
    spec = tmp_path / "grow.toml"
    text = (REPO / "specs" / "xor.toml").read_text().replace('name = "xor"', 'name = "grow"')
    spec.write_text(text)
    out = tmp_path / "generated"
    assert run(["-m", "derive", str(spec), "--out", str(out)]).returncode == 0
    assert (out / "grow.c").is_file()
    spec.write_text(text.replace("hidden = [2]", "hidden = [16]"))
    result = run(["-m", "derive", str(spec), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert not (out / "grow.c").exists() and "removed" in result.stdout


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the C loop is not built")
def test_a_corrupt_cached_library_is_rebuilt_and_a_hanging_compiler_times_out(tmp_path):
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    assert run(["train.py", "--epochs", "2", "--quiet", "--out", str(tmp_path / "o")],
               env=env).returncode == 0
    (library,) = (cache / "derive-nn").glob("xor-*.so")
    library.write_bytes(b"not a library")
    result = run(["train.py", "--epochs", "2", "--backend", "c", "--quiet", "--out",
                  str(tmp_path / "o")], env=env)
    assert result.returncode == 0, result.stderr
    assert library.read_bytes()[:4] == b"\x7fELF"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "cc").write_text("#!/bin/sh\nsleep 30\n")
    (fake / "cc").chmod(0o755)
    start = time.monotonic()
    result = run(["train.py", "--epochs", "2", "--quiet", "--out", str(tmp_path / "o")],
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache2"),
                      "PATH": f"{fake}:{os.environ['PATH']}", "DERIVE_NN_BUILD_TIMEOUT": "1"})
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 20
    assert "training with Python instead" in result.stderr


@pytest.mark.parametrize("runs", [4, pytest.param(8, marks=pytest.mark.slow)])
def test_parallel_runs_into_one_folder_leave_one_complete_set(tmp_path, runs):
    out = tmp_path / "shared"
    out.mkdir()
    (out / ".my-draft.tmp").write_text("precious")
    for _trial in range(2):
        procs = [subprocess.Popen([sys.executable, "train.py", "--quiet", "--backend", "numpy",
                                   "--epochs", str(40 + k), "--seed", str(k), "--out", str(out)],
                                  cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for k in range(runs)]
        errors = [p.communicate(timeout=300)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        record = json.loads((out / "params.json").read_text())
        history = (out / "history.csv").read_text().splitlines()
        assert len(history) - 1 == record["epochs"]  # the same run wrote both
        assert record["seed"] == record["epochs"] - 40
    assert (out / ".my-draft.tmp").read_text() == "precious"
    assert not [p for p in out.iterdir() if p.name.startswith(".run-")]


def test_a_blocked_output_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    (out / "loss.png").mkdir(parents=True)
    result = run(["train.py", "--epochs", "3", "--quiet", "--out", str(out)])
    assert result.returncode == 2 and _one_line_error(result)
    assert "loss.png" in result.stderr and not (out / "params.json").exists()


@pytest.mark.parametrize("content", [
    None,  # /dev/zero
    "[" * 100_000 + "]" * 100_000,
    '{"params": {"W1": ' + "1" * 5000 + "}}",
    '{"init": {"' + "9" * 5000 + '.weight": [1]}}',
])
def test_unbounded_or_pathological_params_files_are_one_line(tmp_path, content):
    path = Path("/dev/zero") if content is None else tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    for args in (["train.py", "predict", "1", "0", "--params", str(path)],
                 ["train.py", "--init", str(path), "--out", str(tmp_path / "o")]):
        result = run(args, timeout=60)
        assert result.returncode == 2, result.stderr
        assert _one_line_error(result)
    assert not (tmp_path / "o").exists()


def test_csv_quirks_are_read_as_csv(tmp_path):
    quoted = tmp_path / "q.csv"
    quoted.write_text('x1,x2,y\n"1\n2",0,1\n0,0,0\n')
    result = run(["train.py", "--data", str(quoted), "--out", str(tmp_path / "o")])
    assert result.returncode == 2 and "line 2" in result.stderr and _one_line_error(result)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffx1,x2,y\n0,0,0\n1,1,1\n".encode())
    result = run(["train.py", "--data", str(bom), "--epochs", "5", "--quiet", "--out",
                  str(tmp_path / "o")])
    assert result.returncode == 0, result.stderr
    huge = tmp_path / "huge.csv"
    huge.write_text("x1,x2,y\n1e308,0,1\n0,0,0\n")
    result = run(["train.py", "--data", str(huge), "--out", str(tmp_path / "o2")])
    assert result.returncode == 2 and _one_line_error(result)
    assert not (tmp_path / "o2").exists()


def test_out_empty_is_refused():
    result = run(["train.py", "--out", ""])
    assert result.returncode == 2 and _one_line_error(result)


@pytest.mark.parametrize("args", [
    ["--inits", "10", "--lr", "1e6"], ["--spec", "xor_mse", "--inits", "10", "--lr", "100"]])
def test_ensemble_divergence_is_reported_with_exit_3_and_valid_json(tmp_path, args):
    out = tmp_path / "o"
    result = run(["train.py", *args, "--epochs", "300", "--quiet", "--out", str(out)])
    assert result.returncode == 3 and "diverged" in result.stderr, result.stderr
    summary = json.loads((out / "ensemble.json").read_text())  # strict JSON: no NaN
    assert summary["results"][0]["diverged"] == 10


@pytest.mark.parametrize("args", [
    ["xor", "--out", "/dev/null"], ["check", "--seed", "-1"], ["check", "--spec", "../train"],
    ["check", "--module", "{tmp}/notgen.py"], ["xor", "--out", "{tmp}/file"],
])
def test_derive_bad_input_is_one_line(tmp_path, args):
    (tmp_path / "notgen.py").write_text("x = 1\n")
    (tmp_path / "file").write_text("keep")
    result = run(["-m", "derive", *(a.format(tmp=tmp_path) for a in args)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert _one_line_error(result)
    assert (tmp_path / "file").read_text() == "keep"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the C loop is not built")
def test_ctrl_c_inside_the_c_loop_stops_within_a_second(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "params.json").write_text("old")
    proc = subprocess.Popen([sys.executable, "train.py", "--epochs", "10000000", "--quiet",
                             "--backend", "c", "--out", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 1.5
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1
    assert (out / "params.json").read_text() == "old"


@pytest.mark.slow
def test_ensemble_memory_stays_bounded_on_a_large_data_set(tmp_path):
    """K = 800 on 100,000 rows: under 1 GB (the README's bound)."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 2))
    rows = "".join(f"{a:.5f},{b:.5f},{int(a * b > 0)}\n" for a, b in X)
    data = tmp_path / "big.csv"
    data.write_text("x1,x2,y\n" + rows)
    code = ("import resource, runpy, sys; sys.argv = ['train.py', '--inits', '800', '--data', "
            f"{str(data)!r}, '--epochs', '2', '--quiet', '--out', {str(tmp_path / 'o')!r}]\n"
            "try:\n    runpy.run_path('train.py', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = run(["-c", code], timeout=600)
    assert result.returncode == 0, result.stderr
    peak_kb = int(result.stdout.strip().splitlines()[-1])
    assert peak_kb < 1_000_000, peak_kb


def test_a_hand_edited_generated_notebook_is_refused_and_rederived(tmp_path):
    project = copy_project(tmp_path)
    notebook = project / "generated" / "xor.ipynb"
    notebook.write_text(notebook.read_text().replace("eta = 1.0  # learning rate",
                                                     "eta = 2.0  # learning rate"))
    result = run(["-m", "derive.execute_notebook", str(notebook), str(tmp_path / "x.ipynb")])
    assert result.returncode == 2 and "edited by hand" in result.stderr
    assert _one_line_error(result) and not (tmp_path / "x.ipynb").exists()
    result = run(["-m", "derive", "xor", "--if-stale", "--out", str(project / "generated")],
                 cwd=project)
    assert result.returncode == 0 and "wrote" in result.stdout
    assert "eta = 1.0  # learning rate" in notebook.read_text()
