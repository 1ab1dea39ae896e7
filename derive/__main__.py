"""`python -m derive`: derive a spec's gradients and write generated/ (see --help).

`python -m derive check` runs the finite-difference gradient check instead (derive/check.py);
`python -m derive grade PATH...` checks the gradient formulas of notebooks (derive/grade.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.spec import DEFAULT_SPEC, SPECS_DIR, NetworkSpec, SpecError, load_spec

REPO_DIR = Path(__file__).resolve().parent.parent


def output_names(spec: NetworkSpec) -> dict[str, str]:
    """File name of each output; the assignment's network keeps the report names it shipped with."""
    report = "gradients" if spec.name == "xor" else spec.name
    return {"module": f"{spec.name}.py", "tex": f"{report}.tex", "md": f"{report}.md",
            "notebook": f"{spec.name}.ipynb", "c": f"{spec.name}.c"}


def render_all(spec: NetworkSpec, stamp: str) -> dict[str, str]:
    """Derive and render every output of `spec`: file name -> text."""
    from derive.codegen import render_c, render_module
    from derive.gradients import derive
    from derive.latex import render
    from derive.network import build
    from derive.notebook import render_notebook

    gradients = derive(build(spec))
    names = output_names(spec)
    outputs = {
        names["module"]: render_module(gradients, stamp),
        names["tex"]: render(gradients, "gradients.tex.j2", stamp),
        names["md"]: render(gradients, "gradients.md.j2", stamp),
        names["notebook"]: render_notebook(gradients, stamp),
    }
    c_source = render_c(gradients, stamp)
    if c_source is not None:
        outputs[names["c"]] = c_source
    return outputs


def is_fresh(spec: NetworkSpec, out_dir: Path, stamp: str) -> bool:
    """Every output carries `stamp` (the C loop counts only where one was written)."""
    from derive.files import read_stamp

    names = output_names(spec)
    required = [names[kind] for kind in ("module", "tex", "md", "notebook")]
    optional = out_dir / names["c"]
    return (all(read_stamp(out_dir / name) == stamp for name in required)
            and (not optional.exists() or read_stamp(optional) == stamp))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every CLI here
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        from derive.check import main as check_main

        return check_main(argv[1:])
    if argv[:1] == ["grade"]:
        from derive.grade import main as grade_main

        return grade_main(argv[1:])
    parser = _Parser(prog="python -m derive", description=__doc__)
    parser.add_argument("spec_file", nargs="?", metavar="SPEC",
                        help="spec to derive: a name in specs/ or a .toml path")
    parser.add_argument("--spec", default=None,
                        help=f"the same, as an option (default: {DEFAULT_SPEC}, the assignment's "
                             "network)")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "generated",
                        help="folder to write into (default: generated/)")
    parser.add_argument("--all", action="store_true", help="derive every spec in specs/")
    parser.add_argument("--if-stale", action="store_true",
                        help="do nothing when every output already carries the current stamp")
    args = parser.parse_args(argv)

    names = ([p.stem for p in sorted(SPECS_DIR.glob("*.toml"))] if args.all
             else [args.spec_file or args.spec or DEFAULT_SPEC])
    for name in names:
        status = derive_one(name, args.out, args.if_stale)
        if status:
            return status
    return 0


def derive_one(name: str, out_dir: Path, if_stale: bool) -> int:
    """Derive one spec into `out_dir`; 0, or the exit code of a one-line error."""
    from derive.files import input_hash, write_atomic
    from derive.gradients import DerivationError

    try:
        spec = load_spec(name)
    except SpecError as error:
        print(f"derive: error: {error}", file=sys.stderr)
        return 2
    stamp = input_hash(spec)
    if if_stale and is_fresh(spec, out_dir, stamp):
        print(f"derive: {out_dir}/ is up to date for spec {spec.name}")
        return 0
    try:
        outputs = render_all(spec, stamp)
    except DerivationError as error:
        print(f"derive: error: {error}", file=sys.stderr)
        return 1
    for file_name, text in outputs.items():
        changed = write_atomic(out_dir / file_name, text)
        print(f"derive: {'wrote' if changed else 'unchanged'} {out_dir / file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
