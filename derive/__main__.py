"""`python -m derive`: derive a spec's gradients and write generated/ (see --help).

`python -m derive check` runs the finite-difference gradient check instead (derive/check.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.spec import SPECS, NetworkSpec

REPO_DIR = Path(__file__).resolve().parent.parent


def output_names(spec: NetworkSpec) -> dict[str, str]:
    """File name of each output; the assignment's network keeps the report names it shipped with."""
    report = "gradients" if spec.name == "xor" else spec.name
    return {"module": f"{spec.name}.py", "tex": f"{report}.tex", "md": f"{report}.md",
            "notebook": f"{spec.name}.ipynb"}


def render_all(spec: NetworkSpec, stamp: str) -> dict[str, str]:
    """Derive and render every output of `spec`: file name -> text."""
    from derive.codegen import render_module
    from derive.gradients import derive
    from derive.latex import render
    from derive.network import build
    from derive.notebook import render_notebook

    gradients = derive(build(spec))
    names = output_names(spec)
    return {
        names["module"]: render_module(gradients, stamp),
        names["tex"]: render(gradients, "gradients.tex.j2", stamp),
        names["md"]: render(gradients, "gradients.md.j2", stamp),
        names["notebook"]: render_notebook(gradients, stamp),
    }


def is_fresh(spec: NetworkSpec, out_dir: Path, stamp: str) -> bool:
    from derive.files import read_stamp

    return all(read_stamp(out_dir / name) == stamp for name in output_names(spec).values())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every CLI here
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        from derive.check import main as check_main

        return check_main(argv[1:])
    parser = _Parser(prog="python -m derive", description=__doc__)
    parser.add_argument("--spec", default="xor", choices=sorted(SPECS),
                        help="network spec to derive (default: xor, the assignment's network)")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "generated",
                        help="folder to write into (default: generated/)")
    parser.add_argument("--if-stale", action="store_true",
                        help="do nothing when every output already carries the current stamp")
    args = parser.parse_args(argv)

    from derive.files import input_hash, write_atomic
    from derive.gradients import DerivationError

    spec = SPECS[args.spec]
    stamp = input_hash(spec)
    if args.if_stale and is_fresh(spec, args.out, stamp):
        print(f"derive: {args.out}/ is up to date for spec {spec.name}")
        return 0
    try:
        outputs = render_all(spec, stamp)
    except DerivationError as error:
        print(f"derive: error: {error}", file=sys.stderr)
        return 1
    for name, text in outputs.items():
        changed = write_atomic(args.out / name, text)
        print(f"derive: {'wrote' if changed else 'unchanged'} {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
