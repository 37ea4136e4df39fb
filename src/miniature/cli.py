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
from typing import Any, NoReturn

from miniature.config import positive
from miniature.exceptions import ConfigError, MiniatureError
from miniature.version import __version__


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
    from miniature.data.generate import generated_data
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
    elif args.what == "methods":
        from miniature.compress import METHODS

        for name, method in METHODS.items():
            print(f"{name:8s} {method.summary}")
    elif args.what == "tasks":
        from miniature.taskdefs import TASKS

        for name, task in TASKS.items():
            print(f"{name:14s} {task.description}")
    else:
        for name, characteristic in CHARACTERISTICS.items():
            print(f"{name:14s} {characteristic.description}")


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


def _cmd_characteristic(args: argparse.Namespace) -> None:
    """`miniature <characteristic>`: one characteristic of a config's models (cached in its run
    folder), or of the files its options name."""
    from miniature.api import measure
    from miniature.characteristics import CHARACTERISTICS
    from miniature.config import load_config
    from miniature.runs import DONE

    characteristic = CHARACTERISTICS.get(args.verb)
    _set_needs_config(args)
    characteristic.check_arguments(args)
    knobs = characteristic.cli_knobs(args)
    progress = not args.quiet
    if args.config:
        config = _preflight(load_config(args.config, args.set), args.verb)
        out = _out_folder(args, Path(config.run_dir) / args.verb)
        result = measure(args.verb, config, knobs=knobs, out=out, progress=progress)
        # its tables replace the study's: the next `miniature run` compares again rather than
        # take them (made with this verb's options) as its own
        (out / DONE).unlink(missing_ok=True)
    else:
        out = _out_folder(args, Path(f"miniature-{args.verb}"))
        result = characteristic.compare_files(args, knobs, out, progress)
    print(result.markdown())
    written = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir() if not p.name.startswith("."))
    print(f"written: {out}/ {', '.join(written)}", file=sys.stderr)


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

    s = sub.add_parser("list", help="list registered models, datasets, tasks, compression methods or characteristics")
    s.add_argument("what", choices=["models", "datasets", "tasks", "methods", "characteristics"])
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
    s.add_argument("--limit", type=positive, help="first N questions only")
    s.add_argument("--batch-size", type=positive, help="prediction batch size (default 64)")
    s.add_argument("--out", required=True, help="folder for predictions.json and na_probs.json")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_predict)

    from miniature.characteristics import CHARACTERISTICS, Characteristic
    from miniature.config import load_plugins

    load_plugins()  # the plug-ins of other packages too (their `miniature.plugins` entry points)
    for name, characteristic in CHARACTERISTICS.items():  # a verb per characteristic
        s = sub.add_parser(name, help=characteristic.verb_help or characteristic.description)
        files = type(characteristic).compare_files is not Characteristic.compare_files  # it compares files too
        inputs: Any = s.add_mutually_exclusive_group(required=True) if files else s
        inputs.add_argument("--config", required=not files,
                            help="YAML study config: its models are fine-tuned, embedded, predicted as "
                                 f"{name} needs (all cached in its run folder), then compared")
        characteristic.cli_arguments(inputs, s)
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set run_dir=runs/mine (repeatable)")
        s.add_argument("--out", help=f"output folder (default: RUN_DIR/{name}"
                       + (f", or ./miniature-{name} without a config)" if files else ")"))
        s.add_argument("--quiet", action="store_true", help="no progress bars")
        s.set_defaults(func=_cmd_characteristic)
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
        parser = build_parser()
    except MiniatureError as e:  # a plug-in of another package that does not load
        print(f"miniature: error: {e}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
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
