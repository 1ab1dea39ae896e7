"""Without PyTorch, --compare-torch explains how to install it and exits 2."""

from __future__ import annotations

from conftest import run


def test_compare_torch_without_torch_says_how_to_install(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch hidden by the test')\n")
    out = tmp_path / "out"
    result = run(["train.py", "--compare-torch", "--epochs", "5", "--out", str(out)],
                 env={"PYTHONPATH": str(blocker)})
    assert result.returncode == 2
    assert "make setup-torch" in result.stderr and "torch==2.13.0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
