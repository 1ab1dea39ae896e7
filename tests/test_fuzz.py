"""Hostile input: random flags, garbage parameter files, a process killed mid-write.

Every case must end in exit 0 with sane output, or exit 2 (3 for divergence) with exactly one
line on stderr; an exception escaping main() is a traceback and fails the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import train

# `pytest --hypothesis-show-statistics tests/test_fuzz.py` prints how many inputs each tried.
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _call(argv, capsys):
    code = train.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("train.py: ") and "Traceback" not in err


number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", "nan", "-inf", "1e309", "0x10", "1_000", " 3 ", "--", "٣", "1e-400"]),
    st.text(max_size=8),
)
flag_values = {
    "--lr": st.one_of(number_text, st.floats(1e-3, 3.0).map(repr)),
    "--epochs": st.one_of(number_text, st.integers(-3, 40).map(str)),
    "--seed": st.one_of(number_text, st.integers(-3, 2**64).map(str)),
}


@st.composite
def train_argvs(draw):
    argv = []
    for flag, values in flag_values.items():
        if draw(st.booleans()):
            argv += [flag, draw(values)]
    if draw(st.integers(0, 4)) == 0:
        argv.append(draw(st.sampled_from(["--quiet", "--bogus", "-x", "extra", "--lr"])))
    epochs_given = "--epochs" in argv
    if not epochs_given:
        argv += ["--epochs", "25"]  # keep valid runs short
    return argv


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=train_argvs())
def test_fuzzed_training_flags(argv, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        try:
            epochs = int(argv[argv.index("--epochs") + 1])
        except (ValueError, IndexError):
            epochs = 0
        if epochs > 1000:  # a valid huge --epochs would just be slow, not interesting
            return
        code, stdout, err = _call([*argv, "--out", str(out)], capsys)
        assert code in (0, 2, 3), (argv, code, err)
        if code == 0:
            record = json.loads((out / "params.json").read_text())
            assert record["epochs"] == epochs or "--epochs" not in argv
            assert "final loss" in stdout
            assert (out / "loss.png").read_bytes().endswith(b"IEND\xaeB`\x82")
        else:
            assert _one_line_error(err), (argv, err)
            assert not out.exists()


@pytest.fixture(scope="module")
def good_record(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    assert train.main(["--quiet", "--out", str(out)]) == 0
    return json.loads((out / "params.json").read_text())


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=12)


@st.composite
def params_files(draw, record):
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "truncated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps({"params": draw(json_values)}).encode()
    text = json.dumps(record)
    if kind == "truncated":
        return text[:draw(st.integers(0, len(text) - 1))].encode()
    params = json.loads(json.dumps(record["params"]))
    name = draw(st.sampled_from(sorted(params)))
    params[name] = draw(st.one_of(json_values, st.floats(), st.just([[1e308, -1e308], [0, 0]])))
    return json.dumps({**record, "params": params}).encode()


@FUZZ
@given(data=st.data())
def test_fuzzed_params_files_and_inputs(data, good_record, capsys):
    content = data.draw(params_files(good_record))
    x = data.draw(st.lists(number_text, min_size=0, max_size=3))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.json"
        path.write_bytes(content)
        code, stdout, err = _call(["predict", "--params", str(path), "--", *x], capsys)
    assert code in (0, 2), (content, x, err)
    if code == 0:
        y_hat = float(stdout.split("y_hat = ")[1].split()[0])
        assert 0.0 <= y_hat <= 1.0 and stdout.strip().endswith(("class = 0", "class = 1"))
    else:
        assert _one_line_error(err), (content, x, err)


def _complete(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix == ".json":
        json.loads(data)
        return True
    if path.suffix == ".csv":
        lines = data.decode().splitlines()
        return lines[0] == "epoch,loss" and data.endswith(b"\n") and len(lines) > 1
    return data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")


@pytest.mark.slow
def test_killed_mid_write_leaves_every_output_whole(tmp_path):
    """SIGKILL at many moments of a run: each output is the old file or a complete new one."""
    out = tmp_path / "out"
    subprocess.run([sys.executable, "train.py", "--quiet", "--epochs", "50", "--seed", "3",
                    "--out", str(out)], cwd=REPO, check=True, capture_output=True)
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"params.json", "history.csv", "loss.png"} <= set(old)
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(30):
        proc = subprocess.Popen([sys.executable, "train.py", "--quiet", "--epochs", "3000",
                                 "--out", str(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 0.9))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        for name, before in old.items():
            path = out / name
            assert path.read_bytes() == before or _complete(path), name
    assert kills >= 10
    # the next run clears the temporary files a killed run left behind
    assert train.main(["--quiet", "--epochs", "5", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(old)
