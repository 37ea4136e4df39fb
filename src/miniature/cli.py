"""`miniature <verb>`: a thin layer over the public API; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from miniature.exceptions import ConfigError, MiniatureError
from miniature.version import __version__


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _share(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{value} must lie in [0, 1]")
    return value


def _out_folder(args: argparse.Namespace, default: Path) -> Path:
    """The output folder, checked writable before any work (a bad --out fails in a second)."""
    from miniature.runs import check_writable_dir

    out = Path(args.out) if args.out else default
    check_writable_dir(out, "output folder", "choose another with --out PATH", create=False)
    return out


def _preflight(config, characteristic: str):
    """The config's checks of `miniature run` for one characteristic (models, data, labels, Ks,
    the run folder), before any work: a bad config fails in a second, not after the fine-tuning."""
    from miniature.api import generated_data
    from miniature.study import preflight

    with generated_data(config):  # the files the checks read, where the config generates them
        preflight(config.model_copy(update={"characteristics": [characteristic]}))
    return config


def _set_needs_config(args: argparse.Namespace) -> None:
    if args.set and not args.config:
        raise ConfigError(f"--set {args.set[0]} needs --config (it overrides a config's value); pass the "
                          "value as a command-line option instead")


def _cmd_list(args: argparse.Namespace) -> None:
    from miniature.characteristics import CHARACTERISTICS
    from miniature.data.squad import DATASETS
    from miniature.data.text import TEXT_DATASETS
    from miniature.zoo import MODELS

    if args.what == "models":
        for name, spec in MODELS.items():
            print(f"{name:12s} {spec.source}\n{'':12s} {spec.description}")
    elif args.what == "datasets":
        for name, ds in DATASETS.items():
            print(f"{name:12s} {ds.hub_id:22s} {ds.description}")
        for name, tds in TEXT_DATASETS.items():
            print(f"{name:12s} {tds.hub_id:22s} {tds.description}")
        print("(or any SQuAD-format .json/.jsonl QA file, .jsonl/.csv file with text and label, or hub id owner/name)")
    else:
        for name, characteristic in CHARACTERISTICS.items():
            print(f"{name:12s} {characteristic.description}")


def _cmd_score(args: argparse.Namespace) -> None:
    from miniature.api import score
    from miniature.runs import check_output_file, check_writable_dir

    out = Path(args.out or Path(args.predictions).with_suffix(".scores.json"))
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name, e.g. {out / 'scores.json'}")
    check_output_file(out)  # a FIFO or device is never replaced
    check_writable_dir(out.parent, "output folder", "choose another file with --out PATH", create=False)
    figures = score(args.gold, args.predictions, args.na_probs, args.na_prob_thresh, out)
    print(json.dumps(figures, indent=2))
    print(f"written: {out}", file=sys.stderr)


def _cmd_predict(args: argparse.Namespace) -> None:
    from miniature.api import predict
    from miniature.config import QAConfig

    qa = QAConfig(eval_batch_size=args.batch_size) if args.batch_size else QAConfig()
    out = _out_folder(args, Path(args.out))
    folder = predict(args.model, args.data, out, args.split, args.limit, qa, progress=not args.quiet)
    print(f"written: {folder}/predictions.json, {folder}/na_probs.json")


def _cmd_errors(args: argparse.Namespace) -> None:
    from miniature.api import errors
    from miniature.config import load_config

    _set_needs_config(args)
    if args.config and args.names:
        from miniature.api import NAMES_WITH_CONFIG

        raise ConfigError(NAMES_WITH_CONFIG)
    config = _preflight(load_config(args.config, args.set), "errors") if args.config else None
    out = _out_folder(args, Path(config.run_dir) / "errors" if config else Path("miniature-errors"))
    result = errors(config, predictions=args.predictions or (), gold=args.gold,
                    error_sets=args.error_sets or (), names=args.names or (), n_questions=args.questions,
                    out=out, progress=not args.quiet)
    print(result.markdown())
    print(f"written: {out}/errors.md, errors.csv, errors.json", file=sys.stderr)


def _cmd_representation(args: argparse.Namespace) -> None:
    from miniature.api import representation
    from miniature.config import load_config

    _set_needs_config(args)
    config = _preflight(load_config(args.config, args.set), "representation") if args.config else None
    out = _out_folder(args, Path(config.run_dir) / "representation" if config else Path("miniature-representation"))
    result = representation(config, embeddings=args.embeddings or (), after=args.after or (),
                            names=args.names or (), ks=args.ks, table_k=args.table_k, backend=args.backend,
                            out=out, progress=not args.quiet)
    print(result.markdown())
    print(f"written: {out}/representation.md, .csv, .json, representation_sweep.*, "
          "representation_k_sweep.png", file=sys.stderr)


def _cmd_distribution(args: argparse.Namespace) -> None:
    from miniature.api import distribution
    from miniature.config import load_config

    _set_needs_config(args)
    config = _preflight(load_config(args.config, args.set), "distribution") if args.config else None
    out = _out_folder(args, Path(config.run_dir) / "distribution" if config else Path("miniature-distribution"))
    result = distribution(config, bank=args.bank or (), val=args.val or (), test=args.test or (),
                          names=args.names or (), k=args.k, ks=args.ks, tpr=args.tpr, alpha=args.alpha,
                          index=args.index, backend=args.backend, out=out, progress=not args.quiet)
    print(result.markdown())
    print(f"written: {out}/distribution.md, .csv, .json, distribution_detectors.*, distribution_sweep.*, "
          "distribution_k_sweep.png, ood_sets.json", file=sys.stderr)


def _cmd_adversarial(args: argparse.Namespace) -> None:
    from miniature.api import adversarial
    from miniature.config import load_config

    config = _preflight(load_config(args.config, args.set), "adversarial")
    out = _out_folder(args, Path(config.run_dir) / "adversarial")
    result = adversarial(config, out=out, progress=not args.quiet)
    print(result.markdown())
    print(f"written: {out}/adversarial.md, .csv, .json, adversarial_metrics.*, adversarial_agreement.*, "
          "attacked_sets.json, adversarial_examples/*.jsonl", file=sys.stderr)


def _echo(quiet: bool):
    return None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))


def _cmd_run(args: argparse.Namespace) -> None:
    from miniature.study import quickstart_config, run
    from miniature.tables import to_markdown

    config = args.config
    if config is None:
        config = quickstart_config()
        if not args.quiet:
            print(f"no config given: the offline quickstart ({config})", file=sys.stderr)
    result = run(config, overrides=args.set, progress=not args.quiet, echo=_echo(args.quiet))
    rows = result.table2.to_dict("records")
    if rows:
        print("Table 2: pairwise agreement (Jaccard)\n\n" + to_markdown(rows, list(result.table2.columns), 3))
    if len(result.table3):
        table3 = to_markdown(result.table3.to_dict("records"), list(result.table3.columns), 4)
        print("Table 3: BERT-Attack\n\n" + table3)
    print(f"report: {result.report.paths['html']}")


def _cmd_report(args: argparse.Namespace) -> None:
    from miniature.report.study import build_report
    from miniature.runs import check_writable_dir

    if Path(args.run_dir).is_dir():  # a missing one is reported by build_report
        check_writable_dir(args.run_dir, "run folder", "copy it somewhere writable and rebuild there", create=False)
    report = build_report(args.run_dir)
    print(f"report: {report.paths['html']}")


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, as every other error, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"miniature: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="miniature", description="Does a compressed model behave like a "
                                "miniature of the large one? Compare models' behaviour side by side.")
    p.add_argument("--version", action="version", version=f"miniature {__version__}")
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("run", help="run a whole study from a config: every characteristic, then the report")
    s.add_argument("config", nargs="?", help="YAML study config (configs/quickstart.yaml, configs/paper.yaml); "
                   "none: the offline quickstart")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set run_dir=runs/mine (repeatable)")
    s.add_argument("--quiet", action="store_true", help="no stage lines, no progress bars")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("report", help="rebuild a run folder's report from its results, without touching a model")
    s.add_argument("run_dir", help="the run folder of a `miniature run`")
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("list", help="list registered models, datasets or characteristics")
    s.add_argument("what", choices=["models", "datasets", "characteristics"])
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("score", help="official SQuAD v2 figures of a predictions file")
    s.add_argument("--gold", required=True, help="SQuAD v2 .json or .jsonl gold file")
    s.add_argument("--predictions", required=True, help="JSON {id: answer text}, '' for no answer")
    s.add_argument("--na-probs", help="JSON {id: no-answer probability} (adds best_exact/best_f1)")
    s.add_argument("--na-prob-thresh", type=_share, default=1.0, help="no-answer threshold (default 1.0)")
    s.add_argument("--out", help="where to write the figures (default: PREDICTIONS.scores.json)")
    s.set_defaults(func=_cmd_score)

    s = sub.add_parser("predict", help="predict answers with a model that has a trained QA head")
    s.add_argument("--model", required=True, help="registered name, local folder or hub id")
    s.add_argument("--data", required=True, help="SQuAD v2 .json/.jsonl file, squad_v2 or a hub id")
    s.add_argument("--split", help="split of a hub dataset (default validation; not for a local file)")
    s.add_argument("--limit", type=_positive, help="first N questions only")
    s.add_argument("--batch-size", type=_positive, help="prediction batch size (default 64)")
    s.add_argument("--out", required=True, help="folder for predictions.json and na_probs.json")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_predict)

    s = sub.add_parser("errors", help="compare the prediction errors of models or files")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="YAML study config: models are fine-tuned, predicted and scored")
    src.add_argument("--predictions", nargs="+", metavar="PRED.json", help="prediction files (need --gold)")
    src.add_argument("--error-sets", nargs="+", metavar="IDS.json", help="JSON lists of wrong question ids")
    s.add_argument("--gold", help="gold file for --predictions (and the universe of --error-sets)")
    s.add_argument("--questions", type=_positive, metavar="N",
                   help="--error-sets without --gold: how many questions they were scored on (for chance "
                        "levels; the paper's: 11873)")
    s.add_argument("--names", nargs="+", help="labels for the inputs, in order")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set qa.epochs=1 (repeatable)")
    s.add_argument("--out", help="output folder (default: RUN_DIR/errors, or ./miniature-errors)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_errors)

    s = sub.add_parser("representation", help="compare models' embeddings by the agreement of their K-NN sets")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="YAML study config: models are embedded before and after fine-tuning")
    src.add_argument("--embeddings", nargs="+", metavar="A.npy",
                     help="one (points x dims) .npy per model, rows = the same points in the same order")
    s.add_argument("--after", nargs="+", metavar="A.npy",
                   help="with --embeddings: the fine-tuned models' .npy files (then --embeddings are 'before')")
    s.add_argument("--names", nargs="+", help="labels for the models, in order (the large one first)")
    s.add_argument("--ks", type=_positive, nargs="+", help="the K sweep (default 1 5 10 20 50 100)")
    s.add_argument("--table-k", type=_positive, help="the K of the pairwise table (default 10, the paper's)")
    s.add_argument("--backend", choices=["auto", "faiss", "numpy"], help="neighbour search (default: auto)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set representation.pooling=mean (repeatable)")
    s.add_argument("--out", help="output folder (default: RUN_DIR/representation, or ./miniature-representation)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_representation)

    s = sub.add_parser("distribution", help="compare which test points models' Deep kNN detectors call OOD")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="YAML study config with distribution.test set: models are fine-tuned and "
                     "their features of train (bank), dev (validation) and the test set extracted")
    src.add_argument("--bank", nargs="+", metavar="A.npy",
                     help="one in-distribution bank (points x dims) .npy per model")
    s.add_argument("--val", nargs="+", metavar="A.npy",
                   help="with --bank: held-out in-distribution features, per model")
    s.add_argument("--test", nargs="+", metavar="A.npy", help="with --bank: test features (the same points), per model")
    s.add_argument("--names", nargs="+", help="labels for the models, in order (the large one first)")
    s.add_argument("--k", type=_positive, help="the K of the table (default 10, the paper's)")
    s.add_argument("--ks", type=_positive, nargs="+", help="the K sweep (default 1 5 10 20 50 100)")
    s.add_argument("--tpr", type=float, help="share of validation points kept in-distribution (default 0.95)")
    s.add_argument("--alpha", type=float, help="random share of the bank kept (default 1)")
    s.add_argument("--index", choices=["exact", "ivf", "hnsw"], help="bank index (default exact)")
    s.add_argument("--backend", choices=["auto", "faiss", "numpy", "bf16", "torch"], help="exact search (default auto)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set distribution.test=newsqa.json (repeatable)")
    s.add_argument("--out", help="output folder (default: RUN_DIR/distribution, or ./miniature-distribution)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_distribution)

    s = sub.add_parser("adversarial", help="attack every model with BERT-Attack: Table 3 and who falls together")
    s.add_argument("--config", required=True, help="YAML study config: models are fine-tuned on adversarial.train "
                   "and attacked on adversarial.n_examples texts of adversarial.test")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set adversarial.candidates=embedding (repeatable)")
    s.add_argument("--out", help="output folder (default: RUN_DIR/adversarial)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_adversarial)
    return p


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the program is, so that every clean-up runs on the way out
    (temporaries deleted, staging folders removed) as it does for Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


@contextlib.contextmanager
def _termination_cleans_up() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Terminated` for the duration (main thread only; the previous
    handlers come back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    before = {s: signal.signal(s, _terminate) for s in wanted}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        with _termination_cleans_up():
            args.func(args)
    except Terminated as e:
        print(f"miniature: stopped by {e}; nothing half-written was kept, run again to resume", file=sys.stderr)
        return 143
    except MiniatureError as e:
        print(f"miniature: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("miniature: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a file the checks up front could not foresee (disk full, a name too long)
        where = f" ({e.filename})" if e.filename else ""
        print(f"miniature: error: {e.strerror or e}{where}; check the path, its permissions and free space",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
