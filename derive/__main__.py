"""`python -m derive`: derive a spec's gradients and write generated/ (see --help).

`python -m derive check` runs the finite-difference gradient check instead (derive/check.py);
`python -m derive grade PATH...` checks the gradient formulas of notebooks (derive/grade.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from derive.cli import OneLineParser
from derive.spec import DEFAULT_SPEC, SPECS_DIR, NetworkSpec, SpecError, load_spec

REPO_DIR = Path(__file__).resolve().parent.parent


def output_names(spec: NetworkSpec) -> dict[str, str]:
    """File name of each output; the assignment's network keeps the report names it shipped with."""
    report = "gradients" if spec.name == "xor" else spec.name
    return {"module": f"{spec.name}.py", "tex": f"{report}.tex", "md": f"{report}.md",
            "notebook": f"{spec.name}.ipynb", "c": f"{spec.name}.c"}


MATRIX_PROOF_MAX_PARAMS = 40  # the matrix form is checked symbolically up to this size


def render_all(spec: NetworkSpec) -> dict[str, str]:
    """Derive and render every output of `spec`: file name -> text."""
    from derive.codegen import render_c, render_module
    from derive.gradients import derive
    from derive.latex import render
    from derive.matrix import derive_matrix
    from derive.matrix import prove as prove_matrix
    from derive.network import build
    from derive.notebook import render_notebook
    from derive.stamps import PY_MARKER, self_hash
    from derive.verify import cases, verify_c, verify_module

    if spec.matrix_only:
        return render_matrix_only(spec)
    gradients = derive(build(spec))
    # The matrix-level derivation (widths as symbols), proved against the unit-by-unit one
    # where that is quick to expand.
    matrix = derive_matrix(spec)
    if gradients.network.n_params <= MATRIX_PROOF_MAX_PARAMS:
        prove_matrix(matrix, gradients)
    names = output_names(spec)
    module = render_module(gradients)
    outputs = {
        names["module"]: module,
        names["tex"]: render(gradients, "gradients.tex.j2", matrix),
        names["md"]: render(gradients, "gradients.md.j2", matrix),
        names["notebook"]: render_notebook(gradients),
    }
    c_source = render_c(gradients, self_hash(module, PY_MARKER))
    if c_source is not None:
        outputs[names["c"]] = c_source
    # Nothing is written that was not run as printed (derive/verify.py).
    checked = cases(gradients)
    verify_module(gradients, outputs[names["module"]], checked)
    if c_source is not None:
        verify_c(gradients, c_source, checked)
    return outputs


def render_matrix_only(spec: NetworkSpec) -> dict[str, str]:
    """A network too wide to derive unit by unit: derived and printed at the matrix level,
    its derivation proved at small widths (it does not depend on them), its printed module
    checked against central differences of its own loss at the real widths; its notebook
    prints the same lines. No C loop: that is written unit by unit."""
    from derive.latex import render_matrix
    from derive.matrix import derive_matrix, prove_at_small_widths
    from derive.matrix_code import render_matrix_module
    from derive.notebook import render_matrix_notebook
    from derive.verify import verify_by_differences

    matrix = derive_matrix(spec)
    prove_at_small_widths(matrix)
    names = output_names(spec)
    module = render_matrix_module(matrix)
    verify_by_differences(spec.name, module)
    return {names["module"]: module,
            names["tex"]: render_matrix(matrix, "gradients.tex.j2"),
            names["md"]: render_matrix(matrix, "gradients.md.j2"),
            names["notebook"]: render_matrix_notebook(matrix)}


def why_stale(spec: NetworkSpec, out_dir: Path, stamp: str) -> str | None:
    """Why the outputs of `spec` in `out_dir` are not what derive would write now (None:
    they are): the manifest records `stamp` for the spec and every output is the very file
    it records, so a hand-edited one is derived again rather than kept. A C loop on disk
    that the manifest does not list is stale too."""
    from derive.stamps import MANIFEST, read_manifest, stale_reason

    entry = read_manifest(out_dir).get(spec.name)
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        return f"{out_dir / MANIFEST} has no record of spec {spec.name}"
    names = output_names(spec)
    required = [names[kind] for kind in ("module", "tex", "md", "notebook")]
    listed = [name for name in names.values() if name in entry["files"]]
    if not set(required) <= set(listed):
        return f"{out_dir / MANIFEST} lists only some of the files of spec {spec.name}"
    if names["c"] not in listed and (out_dir / names["c"]).exists():
        return f"{out_dir / names['c']} is not listed in {out_dir / MANIFEST}"
    for name in listed:
        reason = stale_reason(out_dir, spec.name, name, stamp)
        if reason is not None:
            return f"{out_dir / name}: {reason}"
    return None


SUBCOMMANDS = """\
other commands (each with its own --help):
  python -m derive check [--spec NAME] [--module FILE] [--points N] [--tol T] [--seed S]
      the generated gradients against central finite differences
  python -m derive grade PATH... [--spec NAME] [--json] [--csv FILE] [--points P]
      someone's LaTeX gradient formulas against the derived ones
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        from derive.check import main as check_main

        return check_main(argv[1:])
    if argv[:1] == ["grade"]:
        from derive.grade import main as grade_main

        return grade_main(argv[1:])
    parser = OneLineParser(prog="python -m derive", description=__doc__, epilog=SUBCOMMANDS,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec_file", nargs="?", metavar="SPEC",
                        help="spec to derive: a name in specs/ or a .toml path")
    parser.add_argument("--spec", default=None,
                        help=f"the same, as an option (default: {DEFAULT_SPEC}, the assignment's "
                             "network)")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "generated",
                        help="folder to write into (default: generated/)")
    parser.add_argument("--all", action="store_true", help="derive every spec in specs/")
    parser.add_argument("--if-stale", action="store_true",
                        help="do nothing when generated/manifest.json shows every output is "
                             "current")
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
    from derive.files import input_hash
    from derive.gradients import DerivationError
    from derive.stamps import MANIFEST, file_sha256, manifest_text, read_manifest

    try:
        spec = load_spec(name)
    except SpecError as error:
        print(f"derive: error: {error}", file=sys.stderr)
        return 2
    stamp = input_hash(spec)
    if if_stale:
        reason = why_stale(spec, out_dir, stamp)
        if reason is None:
            print(f"derive: {out_dir}/ is up to date for spec {spec.name}")
            return 0
        print(f"derive: deriving {spec.name} again: {reason}")
    try:
        outputs = render_all(spec)
    except DerivationError as error:
        print(f"derive: error: {error}", file=sys.stderr)
        return 1
    stale = [name for name in output_names(spec).values() if name not in outputs]
    manifest = read_manifest(out_dir)
    manifest[spec.name] = {"inputs-sha256": stamp, "files": {
        name: file_sha256(text.encode("utf-8")) for name, text in sorted(outputs.items())}}
    outputs[MANIFEST] = manifest_text(manifest)
    try:
        changed = write_set(out_dir, outputs, remove=stale)
    except OSError as error:
        where = error.filename or out_dir
        print(f"derive: error: cannot write {where}: {error.strerror or error}; nothing was "
              "written", file=sys.stderr)
        return 2
    for file_name in outputs:
        print(f"derive: {'wrote' if file_name in changed else 'unchanged'} {out_dir / file_name}")
    for file_name in stale:
        if file_name in changed:
            print(f"derive: removed {out_dir / file_name} (this network no longer has one)")
    return 0


def write_set(out_dir: Path, outputs: dict[str, str], remove: list[str]) -> set[str]:
    """Write every output, or none: all are staged as temporary files first, then renamed
    into place one after another; outputs this spec no longer has (a C loop of a network
    that grew past its limit) are removed, so no stale file is left to be trusted.
    Returns the names that changed."""
    from derive.stamps import stage

    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "not a folder", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, str] = {}
    try:
        for name, text in outputs.items():
            target = out_dir / name
            data = text.encode("utf-8")
            if target.is_file() and target.read_bytes() == data:
                continue
            if target.exists() and not target.is_file():
                raise IsADirectoryError(21, "in the way of an output file", str(target))
            staged[name] = stage(target, data)
        for name, tmp in staged.items():
            os.replace(tmp, out_dir / name)
    finally:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
    removed = set()
    for name in remove:
        if (out_dir / name).is_file():
            (out_dir / name).unlink()
            removed.add(name)
    return set(staged) | removed


def run(argv: list[str] | None = None) -> int:
    """main(), with Ctrl-C and exhausted resources said in one line, never a traceback."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        argv = sys.argv[1:] if argv is None else argv
        said = "" if argv[:1] == ["grade"] else "; files already in place are complete"
        print(f"derive: interrupted{said}", file=sys.stderr)
        return 130
    except (RecursionError, MemoryError) as error:
        print(f"derive: error: input too large ({error.__class__.__name__})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
