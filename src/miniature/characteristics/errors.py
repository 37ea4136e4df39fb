"""Prediction errors: a model's error set (exact match 0) and the pairwise agreement of error sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from miniature import reportspec as rs
from miniature.agreement import SetPair, pairwise_sets
from miniature.characteristics.base import CHARACTERISTICS, Characteristic, Note, rank, register
from miniature.checkpoints import is_given, study_models
from miniature.config import Section, StudyConfig, TaskName, positive
from miniature.data.squad import QADataset, load_qa_dataset
from miniature.exceptions import ConfigError, DataError, MismatchError
from miniature.runs import (
    RunDir,
    atomic_write_json,
    content_key,
    file_stems,
    inputs_meta,
    meta_block,
    read_json_file,
    write_outputs,
)
from miniature.scoring import error_ids
from miniature.tables import to_markdown, write_table
from miniature.taskdefs import TASKS, Task
from miniature.zoo import check_given_head, hf_quiet

COLUMNS = ["model_i", "model_j", "jaccard", "jaccard_ci_low", "jaccard_ci_high", "chance_jaccard", "corrected_jaccard",
           "p_overlap", "size_i", "size_j", "intersection", "union", "i_in_j", "j_in_i", "relation"]


MAX_QUESTIONS = 2**62  # a question count the bootstrap's int64 draws can hold


def universe_key(ids: Sequence[str]) -> str:
    """A fingerprint of a question universe (the set of question ids scored)."""
    return content_key(sorted(ids))


@dataclass(frozen=True)
class ErrorSet:
    """The ids a model got wrong, and, where known, the universe of questions it was scored on."""

    name: str
    ids: frozenset[str]
    universe: str | None = None  # universe_key of the scored ids
    n_questions: int | None = None
    source: str = ""

    def to_json(self, meta: dict | None = None) -> dict:
        return {
            "meta": meta or meta_block(),
            "name": self.name,
            "universe": self.universe,
            "n_questions": self.n_questions,
            "errors": sorted(self.ids),
        }


def from_predictions(name: str, gold: QADataset, preds: Mapping[str, str], source: str = "") -> ErrorSet:
    """The error set of predictions scored against `gold`."""
    return ErrorSet(name, error_ids(gold, preds), universe_key(gold.ids), len(gold), source)


def read_error_set(path: str | Path, name: str | None = None) -> ErrorSet:
    """Read a JSON list of ids (the paper's files) or an error set miniature wrote."""
    path = Path(path)
    doc = read_json_file(path)
    universe = n = None
    if isinstance(doc, dict):
        if "errors" not in doc:
            raise DataError(f"{path}: an error-set object needs an 'errors' list of question ids")
        universe, n, doc = doc.get("universe"), doc.get("n_questions"), doc["errors"]
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise DataError(f"{path}: 'n_questions' is {n!r:.40}, not a whole number of questions; fix or remove it")
        if universe is not None and not isinstance(universe, str):
            raise DataError(f"{path}: 'universe' is {universe!r:.40}, not a fingerprint string; remove it")
    if not isinstance(doc, list) or not all(isinstance(q, str) for q in doc):
        raise DataError(f"{path}: an error set must be a JSON list of question ids (strings)")
    if len(set(doc)) != len(doc):
        raise DataError(f"{path}: lists a question id twice")
    return ErrorSet(name or path.stem, frozenset(doc), universe, n, str(path))


def read_predictions(path: str | Path) -> dict[str, str]:
    """Read an official predictions file: {id: answer text}."""
    doc = read_json_file(path)
    if not isinstance(doc, dict):
        raise DataError(f"{path}: predictions must be a JSON object {{question id: answer text}}")
    if not doc:
        raise DataError(f"{path}: holds no predictions")
    return doc


def check_universes(sets: Sequence[ErrorSet], gold: QADataset | None = None) -> None:
    """Refuse error sets that were not scored on the same questions."""
    known = {s.universe for s in sets if s.universe}
    if gold is not None:
        gold_ids, gold_key = set(gold.ids), universe_key(gold.ids)
        for s in sets:
            stray = [q for q in s.ids if q not in gold_ids]
            if stray:
                raise MismatchError(
                    f"error set {s.name!r} ({s.source}) names {len(stray)} question(s) not in the gold "
                    f"file {gold.source} (first: {sorted(stray)[0]!r}); compare sets over the same questions"
                )
            if s.universe and s.universe != gold_key:
                raise MismatchError(
                    f"error set {s.name!r} was scored on other questions than {gold.source}; "
                    "compare sets over the same questions"
                )
    elif len(known) > 1:
        names = [s.name for s in sets if s.universe]
        raise MismatchError(
            f"error sets {', '.join(names)} were scored on different question universes; "
            "compare sets over the same questions"
        )


@dataclass(frozen=True)
class ErrorsResult:
    """Error sets in order and the agreement of every pair."""

    sets: tuple[ErrorSet, ...]
    pairs: tuple[SetPair, ...]

    def rows(self) -> list[dict]:
        return [p.row() for p in self.pairs]

    def markdown(self) -> str:
        sizes = ", ".join(
            f"{s.name} {len(s.ids)}" + (f"/{s.n_questions}" if s.n_questions else "") for s in self.sets
        )
        return f"Error-set sizes: {sizes}\n\n" + to_markdown(self.rows(), COLUMNS)

    def write(self, out_dir: str | Path, meta: dict, spec: rs.ReportSpec | None = None) -> dict[str, Path]:
        """Write errors.md/.csv/.json, every error set and the report spec (`report_spec()`'s
        unless given) under `out_dir`."""
        out = Path(out_dir)
        for s, stem in zip(self.sets, file_stems([s.name for s in self.sets])):
            atomic_write_json(out / "error_sets" / f"{stem}.json", s.to_json(meta))
        sets_info = [
            {"name": s.name, "errors": len(s.ids), "n_questions": s.n_questions, "source": s.source}
            for s in self.sets
        ]
        paths = write_table(out, "errors", self.rows(), meta, COLUMNS, extra={"sets": sets_info})
        paths["report"] = (spec or report_spec()).write(out)
        return paths


def report_spec(task: Task | None = None) -> rs.ReportSpec:
    """What the report shows of the errors; with the study's task, its scores too (the scores
    table, per-model columns and their bar figure)."""
    pairs, sets, scores = rs.Rows("errors"), rs.Rows("errors", under="sets"), rs.Rows("scores")
    noun = task.items_noun if task is not None else "items"
    extra: dict[str, Any] = {}
    files = [rs.ResultFile("errors", ("model_i", "model_j"), ("jaccard",))]
    blocks: list[rs.Block] = [
        rs.Table("Agreement of error sets", pairs, ("model_i", "model_j", "jaccard", "jaccard_ci_low",
                 "jaccard_ci_high", "chance_jaccard", "corrected_jaccard", "size_i", "size_j", "intersection",
                 "relation"), shade=("jaccard",)),
        rs.Table("Error sets", sets, ("name", "errors", "n_questions"))]
    if task is not None:
        title, ylabel, ylim, digits, caption = task.headline_bars
        files.append(rs.ResultFile("scores", ("model",), tuple(source for source, _ in task.headline.values())))
        blocks.append(rs.Table(task.score_title, scores, task.score_columns, digits=2))
        extra = {"per_model": (rs.ModelColumns(scores, "model", {c: src for c, (src, _) in task.headline.items()}),),
                 "bars": (rs.Bars("models_scores.png", {c: legend for c, (_, legend) in task.headline.items()},
                                  title, ylabel, caption, ylim=ylim, digits=digits),)}
    return rs.ReportSpec(
        Errors.name, Errors.heading, f"prediction errors: Jaccard of the sets of {noun} each model gets wrong",
        rank=rank(Errors.name), files=tuple(files), models=(sets, pairs, scores), blocks=tuple(blocks),
        agreements=(rs.Agreement("errors", "Prediction errors: Jaccard of error sets", "Prediction errors", pairs,
                                 "jaccard", corrected="corrected_jaccard", low="jaccard_ci_low",
                                 high="jaccard_ci_high", chance="chance_jaccard"),),
        table2=(rs.PairColumn("prediction_errors", pairs, "jaccard"),),
        table2_corrected=(rs.PairColumn("prediction_errors", pairs, "corrected_jaccard"),), **extra)


def question_count(sets: Sequence[ErrorSet], gold: QADataset | None = None, n_questions: int | None = None
                   ) -> int | None:
    """How many questions the sets were scored on (the items chance draws errors from): the gold
    file's, else `n_questions`, else the count the sets record; None where nothing says."""
    recorded = {s.n_questions for s in sets if s.n_questions}
    if gold is not None and n_questions is not None:
        raise ConfigError("give either a gold file or a question count: the gold file fixes the count")
    n = len(gold) if gold is not None else n_questions
    if n is None:
        if len(recorded) > 1:
            raise MismatchError(f"the error sets record different question counts ({sorted(recorded)}); "
                                "compare sets over the same questions")
        n = next(iter(recorded), None)
    elif recorded - {n}:
        raise MismatchError(f"the error sets were scored on {min(recorded - {n})} questions, not {n}; "
                            "compare sets over the same questions")
    if n is not None and not 0 < n <= MAX_QUESTIONS:
        raise ConfigError(f"{n} questions: the count must lie in [1, {MAX_QUESTIONS}] (an int64's range); "
                          "give the number of questions the sets were scored on")
    if n is not None:
        wrong = len(frozenset().union(*(s.ids for s in sets)))
        if wrong > n:
            raise MismatchError(f"the error sets name {wrong} distinct questions, more than the {n} scored; "
                                "give the number of questions they were scored on")
    return n


def compare_errors(sets: Sequence[ErrorSet], gold: QADataset | None = None,
                   n_questions: int | None = None) -> ErrorsResult:
    """Pairwise agreement of error sets, after checking they share one question universe, with
    what chance gives sets of their sizes (where the number of questions is known).

    Args:
        sets: two or more error sets, in the order rows should follow (the paper's: large first).
        gold: the gold questions, if known: every error id must be one of them.
        n_questions: for sets given without gold or recorded count (the paper's: 11,873, the
            official SQuAD 2.0 dev set), the number of questions they were scored on.
    """
    if len(sets) < 2:
        raise DataError(f"comparing error sets needs at least two, got {len(sets)}")
    names = [s.name for s in sets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"two inputs share the name {dup[0]!r}; give distinct --names")
    check_universes(sets, gold)
    n = question_count(sets, gold, n_questions)
    pairs = pairwise_sets({s.name: s.ids for s in sets}, n)
    return ErrorsResult(tuple(replace(s, n_questions=s.n_questions or n) for s in sets), tuple(pairs))


NAMES_WITH_CONFIG = ("--names labels --predictions or --error-sets files; a config's models are named by their "
                     "`label` (--set models.0.label=NAME)")


def compare_error_files(predictions: Sequence[str | Path] = (), gold: str | Path | None = None,
                        error_sets: Sequence[str | Path] = (), names: Sequence[str] = (),
                        n_questions: int | None = None, out: str | Path | None = None) -> ErrorsResult:
    """Compare prediction files (scored against `gold`) or error-set files (JSON lists of wrong
    ids; `gold`, if given, fixes their universe, else `n_questions` gives their chance levels).
    Writes errors.md/.csv/.json, the error sets and the report spec into `out`, if given."""
    if bool(predictions) == bool(error_sets):
        raise ConfigError("give exactly one of --predictions or --error-sets")
    if n_questions is not None and not error_sets:
        raise ConfigError("--questions is for --error-sets; models and predictions are counted from their gold file")
    if n_questions is not None and gold is not None:
        raise ConfigError("give either a gold file or a question count: the gold file fixes the count")
    inputs = list(predictions or error_sets)
    if names and len(names) != len(inputs):
        raise ConfigError(f"--names gives {len(names)} names for {len(inputs)} inputs")
    labels = list(names) or [Path(p).stem if Path(p).stem != "predictions" else Path(p).parent.name
                             for p in inputs]
    dev: QADataset | None
    if predictions:
        if gold is None:
            raise ConfigError("--predictions needs --gold, the file they are scored against")
        dev = load_qa_dataset(gold)
        sets = [from_predictions(n, dev, read_predictions(p), str(p)) for n, p in zip(labels, inputs)]
        meta = meta_block(inputs=inputs_meta([gold, *inputs]), dev_fingerprint=dev.fingerprint)
    else:
        dev = load_qa_dataset(gold) if gold is not None else None
        sets = [read_error_set(p, n) for n, p in zip(labels, inputs)]
        meta = meta_block(inputs=inputs_meta(([gold] if gold else []) + inputs))
    result = compare_errors(sets, dev, n_questions)
    if out is not None:
        write_outputs(out, lambda d: result.write(d, meta), "errors")
    return result


# ---- a study's part: every model's artifacts (cached), then the comparison written into a folder


class ErrorsConfig(Section):
    """Prediction errors: the task whose errors are compared."""

    task: TaskName = "qa"  # a registered task (`miniature list tasks`): qa (dev questions), classification


def model_error_sets(cfg: StudyConfig, progress: bool = False) -> tuple[list[ErrorSet], Any, list[dict]]:
    """Every model's weights for the task (fine-tuned, derived or given; cached), its outputs on the
    task's items (cached), its error set and its scores. Every name and data file is checked
    before any training starts."""
    task = TASKS.get(cfg.errors.task)
    specs, labels = study_models(cfg)
    items = task.items(cfg)
    train = task.train_data(cfg)
    run = RunDir(cfg.run_dir)
    hf_quiet(progress)
    sets, scores = [], []
    for i, (spec, label) in enumerate(zip(specs, labels)):
        outputs = task.outputs(cfg, spec, task.weights(cfg, i, specs, train, run, progress), items, run, progress)
        sets.append(ErrorSet(label, outputs.errors, universe_key(list(outputs.ids)), len(outputs.ids),
                             outputs.source))
        scores.append({"model": label, **task.scores(items, outputs), "predictions": outputs.source})
    return sets, items, scores


def finish_errors(cfg: StudyConfig, gathered: tuple[list[ErrorSet], Any, list[dict]],
                  out: str | Path | None = None, progress: bool = False) -> ErrorsResult:
    """Compare the error sets `model_error_sets` gathered; write them, the models' scores and the
    report spec (with the task's scores) into `out`."""
    sets, items, scores = gathered
    task = TASKS.get(cfg.errors.task)
    result = compare_errors(sets, items)
    if out is not None:
        seed = getattr(getattr(cfg, task.sections[-1]), "seed", None)
        meta = meta_block(models=[m.model_dump() for m in cfg.models], task=task.name, dev=items.source,
                          dev_fingerprint=items.fingerprint, seed=seed, run_dir=str(cfg.run_dir))
        write_outputs(out, lambda d: {**result.write(d, meta, report_spec(task)),
                                      **write_table(d, "scores", scores, meta, list(task.score_columns), digits=2)},
                      "errors")
    return result


def errors(config: str | Path | StudyConfig | None = None, *, predictions: Sequence[str | Path] = (),
           gold: str | Path | None = None, error_sets: Sequence[str | Path] = (),
           names: Sequence[str] = (), n_questions: int | None = None, out: str | Path | None = None,
           overrides: Sequence[str] = (), progress: bool = False) -> ErrorsResult:
    """Compare the prediction errors of models, prediction files or error-set files.

    Exactly one of `config` (models fine-tuned and scored), `predictions` (with `gold`) or
    `error_sets` (JSON lists of ids; `gold`, if given, fixes their universe; else `n_questions`,
    the number of questions they were scored on, gives their chance levels). Writes
    errors.md/.csv/.json and the error sets into `out`, if given.
    """
    if sum([config is not None, bool(predictions), bool(error_sets)]) != 1:
        raise ConfigError("give exactly one of a config, --predictions or --error-sets")
    if config is None:
        return compare_error_files(predictions, gold, error_sets, names, n_questions, out)
    if n_questions is not None:
        raise ConfigError("--questions is for --error-sets; models and predictions are counted from their gold file")
    if names:
        raise ConfigError(NAMES_WITH_CONFIG)
    return CHARACTERISTICS.get(Errors.name).measure(config, out=out, overrides=overrides, progress=progress)


@register
class Errors(Characteristic):
    """Prediction errors: every model fine-tuned for QA (or given), its dev predictions scored by
    the official SQuAD v2 rules, and the pairwise agreement of the sets of questions it gets wrong."""

    name = "errors"
    api = staticmethod(errors)
    config = ErrorsConfig
    heading = "Prediction errors"
    title = "prediction errors: each model's answers on the task's items, error sets compared"
    description = "prediction errors: Jaccard of the sets of items (SQuAD 2.0 questions, texts) each model gets wrong"
    sections = ("errors", "data", "qa")
    tasks = ("qa",)
    verb_help = "compare the prediction errors of models or files"

    def cli_arguments(self, inputs: Any, parser: Any) -> None:
        inputs.add_argument("--predictions", nargs="+", metavar="PRED.json", help="prediction files (need --gold)")
        inputs.add_argument("--error-sets", nargs="+", metavar="IDS.json", help="JSON lists of wrong question ids")
        parser.add_argument("--gold", help="gold file for --predictions (and the universe of --error-sets)")
        parser.add_argument("--questions", type=positive, metavar="N",
                            help="--error-sets without --gold: how many questions they were scored on (for chance "
                                 "levels; the paper's: 11873)")
        parser.add_argument("--names", nargs="+", help="labels for the inputs, in order")

    def check_arguments(self, args: Any) -> None:
        if args.config and args.names:
            raise ConfigError(NAMES_WITH_CONFIG)
        if args.config and args.questions is not None:
            raise ConfigError("--questions is for --error-sets; models and predictions are counted from their gold "
                              "file")
        if args.config and args.gold:
            raise ConfigError("--gold is for --predictions and --error-sets; a config's models are scored against "
                              "data.dev")

    def compare_files(self, args: Any, knobs: dict[str, Any], out: Path, progress: bool = False) -> Any:
        return compare_error_files(args.predictions or (), args.gold, args.error_sets or (), args.names or (),
                                   args.questions, out)

    def task_names(self, cfg: StudyConfig) -> tuple[str, ...]:
        return (cfg.errors.task,)

    def config_sections(self, cfg: StudyConfig) -> tuple[str, ...]:
        return ("errors", *TASKS.get(cfg.errors.task).sections)

    def preflight(self, cfg: StudyConfig, specs: list, note: Note) -> None:
        task = TASKS.get(cfg.errors.task)  # an unknown one fails here, naming the known
        for i, spec in enumerate(specs):
            if not cfg.models[i].derived and is_given(cfg, i, task.name):  # used as given: its head is needed
                check_given_head(spec, task.head)

    def gather(self, cfg: StudyConfig, progress: bool = False) -> Any:
        return model_error_sets(cfg, progress)

    def finish(self, cfg: StudyConfig, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        return finish_errors(cfg, gathered, out, progress)
