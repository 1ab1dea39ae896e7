"""`make report`: a short LaTeX article of a training run, ready to hand in as a PDF.

The formulas are the derived ones (generated/<report>.tex, copied in as they stand); the
figures, settings and predictions come from the run in the run folder (out/ by default):
its params.json, loss.png and boundary.png. Where pdflatex exists the article is compiled
to report.pdf beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C while the imports load: one line, not a traceback
    signal.signal(signal.SIGINT, lambda *_: (sys.stderr.write("report: interrupted\n"),
                                             os._exit(130)))

import numpy as np  # noqa: E402

from derive.files import ESCAPES, align_at_relation
from derive.stamps import import_checked, write_atomic
from trainer.errors import BadInput
from trainer.outputs import staged_outputs

REPO_DIR = Path(__file__).resolve().parent.parent
MAX_RECORD_BYTES = 10_000_000
# Text from data (a spec's description, a path) as LaTeX text, never as commands: the same
# escape the derivation's templates use.
latex_escape = ESCAPES["tex_text"]


class ReportError(Exception):
    """A missing or unusable run: one line, exit 2."""


def _formulas(spec: str) -> str:
    """The derived formulas of `spec` (its generated .tex), without the file's comment lines."""
    name = "gradients" if spec == "xor" else spec
    path = REPO_DIR / "generated" / f"{name}.tex"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ReportError(f"{path}: not found; run `make derive`") from None
    return "\n".join(line for line in text.splitlines() if not line.startswith("%")).strip()


def _read_run(run: Path) -> dict:
    path = run / "params.json"
    if not path.is_file():
        raise ReportError(f"{path}: not found; train first (`make train`)")
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise ReportError(f"{path}: larger than {MAX_RECORD_BYTES} bytes; not a params.json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise ReportError(f"{path}: not valid JSON; train again (`make train`)") from None
    needed = ("spec", "params", "lr", "epochs", "final_loss", "accuracy")
    if not isinstance(record, dict) or any(k not in record for k in needed):
        raise ReportError(f"{path}: not written by train.py (needs {', '.join(needed)})")
    if not (isinstance(record["spec"], str) and record["spec"].isidentifier()):
        raise ReportError(f"{path}: 'spec' must name a generated network")
    return record


def _optimizer(record: dict) -> dict | None:
    """The update rule a run used other than plain gradient descent, for the report."""
    from trainer import optim

    settings = record.get("optimizer")
    if not isinstance(settings, dict) or settings.get("name") not in optim.NAMES:
        return None
    try:
        rule = optim.make(settings["name"], float(settings["lr"]),
                          float(settings.get("momentum", 0.9)), bool(settings.get("nesterov")),
                          tuple(settings.get("betas", (0.9, 0.999))),
                          float(settings.get("eps", 1e-8)), float(settings.get("weight_decay", 0)))
    except (KeyError, TypeError, ValueError):
        return None
    if rule.is_plain:
        return None
    names = {"sgd": "gradient descent with weight decay", "momentum": "SGD with momentum",
             "adam": "Adam"}
    values = [rf"\eta = {_tex_number(rule.lr)}"]
    if rule.weight_decay:
        values.append(rf"\lambda = {_tex_number(rule.weight_decay)}")
    if rule.name == "momentum":
        values.append(rf"\mu = {_tex_number(rule.momentum)}")
    if rule.name == "adam":
        values += [rf"\beta_1 = {_tex_number(rule.betas[0])}",
                   rf"\beta_2 = {_tex_number(rule.betas[1])}",
                   rf"\epsilon = {_tex_number(rule.eps)}"]
    return {"name": names[rule.name] + (" (Nesterov)" if rule.nesterov else ""),
            "rules": [align_at_relation(line) for line in rule.latex()],
            "settings": ", ".join(f"${v}$" for v in values)}


def _tex_number(value: float) -> str:
    """0.05 -> 0.05, 1e-08 -> 10^{-8}, 2.5e-07 -> 2.5 \\cdot 10^{-7}: as a report prints it."""
    text = f"{value:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \cdot {power}"


def _description(model) -> str:
    """The spec's one-line description, read from its TOML file (stdlib only)."""
    import tomllib

    try:
        spec = tomllib.loads((REPO_DIR / model.SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"The network {model.SPEC_NAME}"
    return str(spec.get("description", f"The network {model.SPEC_NAME}")).rstrip(".")


def _predictions(record: dict, model) -> tuple[list[str], str | None]:
    """One table row per sample of the spec's own data set (truth tables and small sets),
    and for a truth table the sentence of the assignment's input x = [1, 0]."""
    if record.get("data") == model.DATASET:
        X, y = model.dataset()
    else:  # --data FILE.csv, read again where it still is
        from trainer.data import load_csv

        try:
            X, y = load_csv(model, Path(str(record.get("data"))))
        except (BadInput, OSError):
            return [], None
    if len(X) > 16:
        return [], None
    params = {name: np.asarray(record["params"][name], dtype=np.float64)
              for name, _, _ in model.PARAMS}
    y_hat = model.forward(params, X)
    sentence = None
    if model.N_INPUTS == 2 and len(X) == 4:
        one = float(model.forward(params, np.array([[1.0, 0.0]]))[0])
        sentence = f"$x = [1, 0] \\to \\hat{{y}} = {one:.4f}$, class {int(one >= 0.5)}"
    rows = []
    for x_row, target, p in zip(X, y, y_hat):
        inputs = " & ".join(f"{v:g}" for v in x_row)
        rows.append(f"{inputs} & {target:g} & {p:.4f} & {int(p >= 0.5)} \\\\")
    return rows, sentence


def _load_model(record: dict):
    """The run's generated module, imported only if it is what `make derive` wrote."""
    path = REPO_DIR / "generated" / f"{record['spec']}.py"
    if not path.is_file():
        raise ReportError(f"{path}: not found; run `make derive`")
    try:
        return import_checked(path, f"generated.{record['spec']}")
    except ValueError as error:
        raise ReportError(f"{error}; run `make derive`") from None


def render_report(run: Path, record: dict | None = None) -> str:
    """The article's LaTeX source for the run in `run` (its params.json, read here unless
    `record` already holds it)."""
    import jinja2

    record = _read_run(run) if record is None else record
    model = _load_model(record)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        block_start_string="((*", block_end_string="*))",
        variable_start_string="(((", variable_end_string=")))",
        comment_start_string="((#", comment_end_string="#))")
    rows, sentence = _predictions(record, model)
    data = str(record.get("data", model.DATASET))
    title = data.upper() if data in ("xor", "and", "or", "nand", "xnor") else data
    if data == model.DATASET:  # a data set's name, not a CSV path: "Breast cancer"
        title = title.replace("_", " ")
        title = title[:1].upper() + title[1:]
    else:  # --data FILE.csv: the file's name, its folders are no title
        title = Path(data).name
    shown_data = (f"the {data.replace('_', ' ')} data" if data == model.DATASET
                  else f"the data of {data}")
    start = (f"seed {record['seed']}" if record.get("seed") is not None
             else f"parameters from {record.get('init_file')}")
    return environment.get_template("report.tex.j2").render(
        title=latex_escape(title), spec=latex_escape(record["spec"]),
        data=latex_escape(shown_data),
        description=latex_escape(_description(model)),
        formulas=_formulas(record["spec"]), lr=f"{record['lr']:g}",
        epochs=int(record["epochs"]), start=latex_escape(start),
        final_loss=f"{record['final_loss']:.6f}", accuracy=f"{100 * record['accuracy']:.1f}",
        n_inputs=model.N_INPUTS, rows=rows, sentence=sentence,
        has_loss=(run / "loss.png").is_file(), has_boundary=(run / "boundary.png").is_file(),
        has_confusion=(run / "confusion.png").is_file(), optimizer=_optimizer(record),
        batches=(f"Mini-batch (batches of {int(record['batch_size'])})"
                 if record.get("batch_size") else "Full-batch"),
        rule=("the most probable class" if model.LABELS == "classes"
              else r"class 1 where $\hat{y} \ge 0.5$"),
        test_accuracy=(f"{100 * record['test_accuracy']:.1f}"
                       if record.get("test_accuracy") is not None else ""))


FIGURES = ("loss.png", "boundary.png", "confusion.png")


def _compile(tex: Path, figures: Path, pdf: Path, timeout: float = 120) -> bool:
    """Compile `tex` with pdflatex in a scratch folder, with the run's figures from
    `figures`, into `pdf`; False without pdflatex."""
    engine = shutil.which("pdflatex")
    if engine is None:
        return False
    with tempfile.TemporaryDirectory(prefix="report-") as scratch:
        shutil.copy(tex, Path(scratch) / tex.name)
        for name in FIGURES:
            if (figures / name).is_file():
                shutil.copy(figures / name, Path(scratch) / name)
        result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error",
                                 tex.name], cwd=scratch, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
            raise ReportError(f"pdflatex failed on {figures / tex.name}: "
                              f"{(errors or ['see its log'])[0]}; nothing was written")
        write_atomic(pdf, (Path(scratch) / tex.with_suffix(".pdf").name).read_bytes())
    return True


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # from here: KeyboardInterrupt
    parser = argparse.ArgumentParser(prog="python -m trainer.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("out"), metavar="DIR",
                        help="folder of the training run to report on (default: %(default)s)")
    parser.add_argument("--spec", metavar="NAME",
                        help="refuse a run of another network (default: any network)")
    args = parser.parse_args(argv)
    try:
        record = _read_run(args.run)
        if args.spec is not None and record["spec"] != args.spec:
            raise ReportError(f"{args.run / 'params.json'} is a run of {record['spec']}, not "
                              f"of {args.spec}: run `make train SPEC=specs/{args.spec}.toml` "
                              "first")
        text = render_report(args.run, record)
        target, pdf = args.run / "report.tex", args.run / "report.pdf"
        with staged_outputs(args.run, (target.name, pdf.name)) as stage:  # both or neither
            write_atomic(stage / target.name, text.encode("utf-8"))
            compiled = _compile(stage / target.name, args.run, stage / pdf.name)
    except (ReportError, BadInput) as error:
        print(f"report: error: {error}", file=sys.stderr)
        return 2
    except subprocess.TimeoutExpired:
        print("report: error: pdflatex took longer than 120 s", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"report: interrupted; nothing was written (an earlier report in {args.run} is "
              "kept)", file=sys.stderr)
        return 130
    if record["accuracy"] < 1 and record.get("test_accuracy") is None:
        print(f"report: note: this run did not solve its data ({100 * record['accuracy']:.1f}% "
              "correct); train another seed or learning rate before handing it in")
    if not compiled:
        print(f"report: wrote {target}; no pdflatex here to make the PDF (Debian: apt-get "
              "install texlive-latex-base texlive-latex-recommended), or upload it to Overleaf "
              "with the run's PNG files")
    else:
        print(f"report: wrote {target} and {pdf}, from the run in {args.run / 'params.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
