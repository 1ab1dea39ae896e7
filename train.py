"""Train a generated network by full-batch gradient descent, or predict with it.

    python train.py [--spec xor] [--lr LR] [--epochs N] [--seed S] [--data F.csv]
                    [--out DIR] [--quiet] [--backend B] [--inits K] [--init FILE]
                    [--compare-torch]
    python train.py predict X1 X2 [--params out/params.json] [--spec NAME]

Only NumPy, matplotlib and the generated module are used here: the gradients come from
generated/<spec>.py, which `make derive` writes from the SymPy derivation. Exit codes:
0 done, 2 bad input (one line on stderr), 3 training diverged. This file is the command
line only; the work is done in trainer/ (README: "How it works").
"""

from __future__ import annotations

import math
import os
import signal
import sys

if __name__ == "__main__":  # Ctrl-C while NumPy loads: one line, not a traceback
    signal.signal(signal.SIGINT, lambda *_: (sys.stderr.write("train.py: interrupted\n"),
                                             os._exit(130)))

import numpy as np  # noqa: E402

from trainer import cli, ensemble  # noqa: E402
from trainer.data import from_json, input_scaling, load_csv, load_init, read_json, to_json  # noqa: E402
from trainer.errors import EXIT_BAD_INPUT, EXIT_DIVERGED, BadInput, Diverged  # noqa: E402
from trainer.loops import BACKENDS, PATH_NAMES, choose_path, init_params, train  # noqa: E402
from trainer.model import check_fresh, for_spec, spec_name  # noqa: E402
from trainer.outputs import check_out  # noqa: E402
from trainer.run import classes, confusion, labels, prediction_table, write_run  # noqa: E402
from trainer.torch_reference import compare_with_torch, import_torch  # noqa: E402


def train_main(argv: list[str]) -> int:
    """Train one network (or, with --inits, an ensemble) and write its files to --out."""
    model = for_spec(cli.spec_of(argv))
    parser = cli.train_parser(model)
    args = parser.parse_args(argv)
    optimizer = cli.checked_run_flags(parser, argv, args, model)
    if args.compare_torch:
        import_torch()  # before training, not after it

    check_fresh(model)
    out = args.out
    check_out(out)
    X, y = load_csv(model, args.data) if args.data else model.dataset()
    data_name = str(args.data) if args.data else model.DATASET
    say = (lambda *a: None) if args.quiet else print
    if args.inits is not None:
        return ensemble.study(model, X, y, data_name, args.seed, args.inits, args.lr,
                              args.epochs, out, say, args.backend)
    lr = args.lr[0]
    init = load_init(model, args.init) if args.init else init_params(model, args.seed)
    start = f"init from {args.init}" if args.init else f"seed {args.seed}"
    path = choose_path(model, len(X),
                       "numpy" if not optimizer.is_plain else BACKENDS[args.backend])
    batches = args.batch_size is not None and args.batch_size < len(X)
    if batches or args.full_loss:
        path = "numpy"
    if not optimizer.is_plain and args.backend == "auto":
        say(f"{args.optimizer} runs on the NumPy loop (the generated C and plain-Python loops "
            "carry plain gradient descent only)")
    if args.batch_size is not None and not batches:
        say(f"--batch-size {args.batch_size} is at least the {len(X)} samples: full-batch "
            "descent")
    if args.full_loss:
        say("--full-loss runs on the NumPy loop; history.csv gets a third column, full_loss")
    if batches:
        count, rest = divmod(len(X), args.batch_size)
        split = f"{count} batches" if not rest else \
            f"{count} batches and a last one of {rest}"
        say(f"mini-batches of {args.batch_size} ({split} per epoch of {len(X)} samples), in an "
            f"order drawn each epoch from seed {args.seed}; the history holds each epoch's "
            "mean batch loss")
    rule = "" if optimizer.name == "sgd" else f", {args.optimizer}"
    say(f"training {model.SPEC_NAME} on {data_name} ({len(X)} samples): lr {lr:g}{rule}, "
        f"{args.epochs} epochs, {start}, {PATH_NAMES[path]}")
    batch_size = args.batch_size if batches else None
    full_losses = np.full(args.epochs, np.nan) if args.full_loss else None
    params, history = train(model, init, X, y, lr, args.epochs, path=path, optimizer=optimizer,
                            report=lambda e, loss: say(f"  epoch {e:>7d}  loss {loss:.6f}"),
                            batch_size=batch_size, seed=args.seed, full_losses=full_losses)
    final_loss = model.loss(params, X, y)
    reference = None
    if args.compare_torch:
        reference = compare_with_torch(model, init, X, y, lr, args.epochs, params, history,
                                       optimizer, batch_size, args.seed)

    correct = int(np.sum(classes(model, params, X) == labels(model, y)))
    held_out = model.dataset("test") if model.HELD_OUT and not args.data else None
    test_correct = None if held_out is None else \
        int(np.sum(classes(model, params, held_out[0]) == labels(model, held_out[1])))
    record = {
        "spec": model.SPEC_NAME, "spec_file": model.SPEC_FILE,
        "generated_sha256": model.MODULE_SHA256, "data": data_name,
        "lr": lr, "epochs": args.epochs, "seed": None if args.init else args.seed,
        "init_file": str(args.init) if args.init else None,
        "init": to_json(init), "params": to_json(params), "final_loss": final_loss,
        "accuracy": correct / len(X), "optimizer": optimizer.settings(),
        "batch_size": batch_size, "batch_seed": args.seed if batch_size else None,
        "history_columns": ["epoch", "loss"] + ["full_loss"] * args.full_loss,
    }
    if held_out is not None:
        record["test_accuracy"] = test_correct / len(held_out[1])
    if reference is not None:
        record["torch"] = reference["summary"]
    if held_out is not None:  # the inputs were standardised: predict must scale raw ones
        mean, std = model.input_scaling()
        record["input_scaling"] = {"mean": mean.tolist(), "std": std.tolist()}
    verdict = "" if correct == len(X) or held_out is not None else \
        f", NOT solved: {correct}/{len(X)} correct"
    written = write_run(model, out, record, history, full_losses, params, X, y,
                        f"{model.SPEC_NAME}{f' on {args.data.name}' if args.data else ''} "
                        f"(lr {lr:g}, {start})", verdict,
                        None if reference is None else reference["history"],
                        confusion(model, params, *(held_out or (X, y)))
                        if model.LABELS == "classes" else None)

    solved = correct == len(X)
    shown = f"{final_loss:.6f}" if abs(final_loss) >= 1e-4 else f"{final_loss:.3e}"
    epochs = f"{args.epochs} epoch" + "s" * (args.epochs != 1)
    if held_out is None:
        print(f"final loss {shown} after {epochs}; accuracy "
              f"{correct}/{len(X)} ({correct / len(X):.1%}); "
              f"{'solved' if solved else 'NOT solved'} {data_name}")
    else:  # real data: how well it generalises, not whether it fits every sample
        print(f"final loss {shown} after {epochs}; training accuracy "
              f"{correct}/{len(X)} ({correct / len(X):.1%}); test accuracy "
              f"{test_correct}/{len(held_out[1])} ({test_correct / len(held_out[1]):.1%}) "
              f"on the held-out part of {data_name}")
    if len(X) <= 16:
        print(prediction_table(model, params, X, y))
    say("wrote " + ", ".join(str(out / name) for name in written))
    if not solved and len(X) <= 16:
        decay = " or a smaller --weight-decay" if args.weight_decay else ""
        say("this initialisation did not classify every point: try another --seed, a larger "
            f"--lr{decay}, with --out DIR to keep the runs apart (README: \"If your run "
            "prints NOT solved\")")
    return 0


def predict_main(argv: list[str]) -> int:
    """y_hat and the class of one input, with the network and parameters a run saved."""
    args = cli.predict_parser().parse_args(cli.split_inputs(argv))
    if not args.params.exists():
        raise BadInput(f"--params {args.params}: not found; train first (`make train`, or "
                       "train.py --out DIR writes DIR/params.json)")
    record = read_json(args.params, missing="not found")
    if not isinstance(record, dict) or "params" not in record:
        raise BadInput(f"{args.params}: no 'params' object; was it written by train.py?")
    spec = record.get("spec", "xor")
    if not isinstance(spec, str) or not spec.isidentifier():
        raise BadInput(f"{args.params}: 'spec' must name a generated module, got {spec!r}")
    if args.spec is not None and spec_name(args.spec) != spec:
        raise BadInput(f"--params {args.params} holds parameters of network {spec!r}, "
                       f"not of --spec {args.spec}")
    model = for_spec(spec)
    check_fresh(model)
    if len(args.x) != model.N_INPUTS:
        raise BadInput(f"predict takes {model.N_INPUTS} input values for {model.SPEC_NAME}, "
                       f"got {len(args.x)}")
    params = from_json(model, record["params"], str(args.params))
    x = np.array([args.x])
    scaling = input_scaling(model, record, str(args.params))
    if scaling is not None:  # the run trained on standardised inputs: scale these too
        with np.errstate(all="ignore"):
            x = (x - scaling[0]) / scaling[1]
        if not np.all(np.isfinite(x)):
            raise BadInput(f"input {args.x} is too large: standardised as in training "
                           f"((x - mean) / std, from {args.params}) it overflows")
    with np.errstate(all="ignore"):  # overflow shows up as a non-finite y_hat, reported below
        output = np.asarray(model.forward(params, x)[0], dtype=float)
    inputs = "x = [" + " ".join(f"{v:g}" for v in args.x) + "]" + (
        " (standardised as in training)" if scaling is not None else "")
    if model.LABELS == "classes":
        if not np.all(np.isfinite(output)):
            raise BadInput(f"{args.params}: the probabilities overflow for input {args.x} "
                           "(an input too large for these parameters, or parameters of a "
                           "diverged run)")
        shown = "  ".join(f"{k}: {p:.4f}" for k, p in enumerate(output))
        print(f"{model.SPEC_NAME} ({args.params}): {inputs}  class = "
              f"{int(np.argmax(output))}  probabilities  {shown}")
        return 0
    y_hat = float(output)
    if not math.isfinite(y_hat):
        raise BadInput(f"{args.params}: y_hat overflows for input {args.x} (an input too "
                       "large for these parameters, or parameters of a diverged run)")
    print(f"{model.SPEC_NAME} ({args.params}): {inputs}  y_hat = {y_hat:.6f}  "
          f"class = {int(y_hat >= 0.5)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Either command; every failure is one line on stderr and an exit code."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["predict"]:
            return predict_main(argv[1:])
        return train_main(argv)
    except BadInput as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Diverged as error:
        print(f"train.py: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except BrokenPipeError:  # `python train.py | head`: stop quietly, as a filter should
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"train.py: error: {where}{(error.strerror or str(error)).lower()}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("train.py: interrupted; no output was written, earlier files are kept",
              file=sys.stderr)
        return 130
    except (RecursionError, MemoryError) as error:
        print(f"train.py: error: input too large or too deeply nested "
              f"({error.__class__.__name__})", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
