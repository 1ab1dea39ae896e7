"""The README's example output, regenerated from a real run (`make readme`), never hand-typed.

The block between the two markers in README.md is exactly what `python train.py` prints;
tests/test_readme.py fails when it no longer is.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BEGIN = "<!-- example-output: begin (make readme rewrites this block) -->\n```text\n"
END = "```\n<!-- example-output: end -->"


def example_output() -> str:
    """What `python train.py` prints for the defaults, with the output folder named out/."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "train.py", "--out", tmp], cwd=REPO,
                                capture_output=True, text=True, check=True)
        return "$ python train.py\n" + result.stdout.replace(tmp, "out")


def current_block(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN)
    return text[start:text.index(END, start)]


def main() -> int:
    text = README.read_text(encoding="utf-8")
    block = current_block(text)
    README.write_text(text.replace(BEGIN + block + END, BEGIN + example_output() + END),
                      encoding="utf-8")
    print("README.md example output regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
