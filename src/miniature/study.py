"""`miniature run`: a whole study from one config, stage by stage over one shared cache, then the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniature import api
from miniature.checkpoints import attack_examples, check_derivations, source_index
from miniature.config import StudyConfig, load_config
from miniature.data.squad import load_qa_dataset
from miniature.data.text import load_text_dataset
from miniature.exceptions import ConfigError
from miniature.files import is_local_source
from miniature.registry import Registry
from miniature.runs import (
    DONE,
    Activity,
    Ledger,
    atomic_dir,
    atomic_write_json,
    cached,
    check_writable_dir,
    content_key,
    format_seconds,
    meta_block,
    recording,
    sweep_stale_temps,
)
from miniature.tasks.classification import check_classes, check_labels
from miniature.zoo import check_given_head, resolve_model


@dataclass(frozen=True)
class Stage:
    """One characteristic of a study: gather its cached per-model artifacts, then compare and write."""

    title: str
    gather: Callable[[StudyConfig, bool], Any]
    finish: Callable[[StudyConfig, Any, Path, bool], Any]
    sections: tuple[str, ...]  # the config sections its comparison depends on (besides models)


STAGES: Registry[Stage] = Registry("characteristic")
STAGES.add("errors", Stage("prediction errors: fine-tune for QA, predict dev, compare error sets",
                           api.model_error_sets, api.finish_errors, ("data", "qa")))
STAGES.add("representation", Stage("data representation: embed dev before and after fine-tuning, compare K-NN sets",
                                   api.model_embeddings, api.finish_representation,
                                   ("data", "qa", "representation")))
STAGES.add("distribution", Stage("data distribution: Deep kNN OOD detection on the test set, compare OOD sets",
                                 api.model_features, api.finish_distribution,
                                 ("data", "qa", "representation", "distribution")))
STAGES.add("adversarial", Stage("adversarial vulnerability: fine-tune on reviews, BERT-Attack every model",
                                api.model_attacks, api.finish_adversarial, ("classification", "adversarial")))


@dataclass(frozen=True)
class StudyResult:
    """What `run` produced: the report's tables as pandas DataFrames, every characteristic's tables,
    the report's files, and what was computed or taken from the cache."""

    config: StudyConfig
    run_dir: Path
    report: Any  # miniature.report.study.Report: paths, table2, table3, models
    tables: dict[str, Any]  # "errors", "scores", "representation", ... -> DataFrame of that CSV
    activity: tuple[Activity, ...]

    @property
    def table2(self) -> Any:
        return self.report.table2

    @property
    def table3(self) -> Any:
        return self.report.table3

    @property
    def computed(self) -> list[Activity]:
        return [a for a in self.activity if a.computed]


def check_run_dir(run_dir: Path) -> None:
    """The run folder must be creatable and writable before any work starts; temporaries that
    killed runs left in it are removed."""
    check_writable_dir(run_dir, "run folder", "choose another with --set run_dir=PATH")
    sweep_stale_temps(run_dir)


def preflight(cfg: StudyConfig) -> dict[str, dict[str, str]]:
    """Every model name, data source and required dataset checked, and the run folder writable,
    before anything is trained: a bad config fails in a second, not after an hour.

    Returns the datasets the study reads: config key -> source and fingerprint (their reads are
    kept in memory, so the stages do not read them again).
    """
    specs, _ = api.study_models(cfg)
    check_derivations(cfg, specs)
    datasets: dict[str, dict[str, str]] = {}

    def note(key: str, ds: Any) -> None:
        datasets[key] = {"source": ds.source, "fingerprint": ds.fingerprint}

    chars = set(cfg.characteristics)
    if "distribution" in chars and cfg.distribution.test is None:
        raise ConfigError("characteristic 'distribution' needs an OOD test set: set distribution.test to a "
                          "SQuAD-format .json/.jsonl file or hub id (the paper: newsqa), or leave "
                          "'distribution' out of characteristics")
    qa_chars = chars & {"errors", "representation", "distribution"}
    if qa_chars:
        heads_needed = {source_index(cfg, i) for i, m in enumerate(cfg.models) if m.derived}  # teachers
        for i, (m, spec) in enumerate(zip(cfg.models, specs)):
            if m.finetuned and ("errors" in chars or i in heads_needed):
                check_given_head(spec, "qa")
        note("data.dev", load_qa_dataset(cfg.data.dev, cfg.data.dev_split, cfg.data.dev_limit))
        if any(not m.finetuned for m in cfg.models) or "distribution" in chars:
            note("data.train", load_qa_dataset(cfg.data.train, cfg.data.train_split, cfg.data.train_limit))
    if "distribution" in chars:
        assert cfg.distribution.test is not None  # refused above
        note("distribution.test", load_qa_dataset(cfg.distribution.test, cfg.distribution.test_split,
                                                  cfg.distribution.test_limit))
    if "adversarial" in chars:
        attack = resolve_model(cfg.adversarial.attack_model)
        if cfg.adversarial.candidates == "mlm":
            check_given_head(attack, "mlm")
        for m, spec in zip(cfg.models, specs):
            if m.classifier:
                check_given_head(spec, "classifier")
        test = load_text_dataset(cfg.adversarial.test, cfg.adversarial.test_split)
        note("adversarial.test", test)
        trained = [m.display for m in cfg.models if not m.classifier]
        if trained:
            train = load_text_dataset(cfg.adversarial.train, cfg.adversarial.train_split)
            note("adversarial.train", train)
            check_labels(test, cfg.classification.num_labels or train.n_labels, trained[0])
        check_samples(cfg, bool(trained))
    check_splits(cfg)
    check_ks(cfg)
    check_run_dir(Path(cfg.run_dir))
    return datasets


SPLITS = (("data", "train"), ("data", "dev"), ("distribution", "test"), ("adversarial", "train"),
          ("adversarial", "test"))  # (section, source key); each has a `<key>_split`


def check_splits(cfg: StudyConfig) -> None:
    """A split names a part of a hub dataset: one given beside a local file means nothing, so it
    is refused rather than ignored."""
    for section, key in SPLITS:
        sec = getattr(cfg, section)
        source = getattr(sec, key)
        if f"{key}_split" in sec.model_fields_set and source is not None and is_local_source(source):
            raise ConfigError(f"{section}.{key}_split names a split of a hub dataset, but {section}.{key} is the "
                              f"local file {source}; remove {section}.{key}_split")


def check_samples(cfg: StudyConfig, trains: bool) -> None:
    """The adversarial samples as drawn: at least train_limit texts to train on and n_examples
    texts to attack (each a sample of that size), and training texts of two classes at least."""
    acfg = cfg.adversarial
    if trains and acfg.train_limit is not None:
        n_train = len(load_text_dataset(acfg.train, acfg.train_split))
        if acfg.train_limit > n_train:
            raise ConfigError(f"adversarial.train_limit is {acfg.train_limit} but {acfg.train} has {n_train} texts; "
                              f"lower it, e.g. --set adversarial.train_limit={n_train}")
    every = cfg.model_copy(update={"adversarial": acfg.model_copy(update={"n_examples": None})})
    train, full_test = attack_examples(every, trains)  # the texts n_examples is drawn from
    if acfg.n_examples is not None and acfg.n_examples > len(full_test):
        apart = " (those not in the training sample)" if trains and acfg.train == acfg.test else ""
        raise ConfigError(f"adversarial.n_examples is {acfg.n_examples} but {acfg.test} has {len(full_test)} "
                          f"texts{apart}; lower it, e.g. --set adversarial.n_examples={len(full_test)}")
    if train is not None:
        check_classes(train)


def check_ks(cfg: StudyConfig) -> None:
    """Every K of the representation and distribution sweeps fits the points they search (read
    already, so this costs nothing): a K too large fails here, not after the fine-tuning."""
    chars = set(cfg.characteristics)
    rcfg, dcfg = cfg.representation, cfg.distribution
    if "representation" in chars:
        n = len(load_qa_dataset(cfg.data.dev, cfg.data.dev_split, rcfg.limit or cfg.data.dev_limit))
        k = max([*rcfg.ks, rcfg.table_k])
        if k >= n:
            raise ConfigError(f"representation: K={k} needs more than {k} dev points (a point is not its own "
                              f"neighbour) and the study has {n}; lower representation.ks and table_k, "
                              f"e.g. --set 'representation.ks=[1,5,10]', or use more points")
    if "distribution" in chars:
        n = len(api.bank_dataset(cfg))
        k = max([*dcfg.ks, dcfg.k])
        if k > n:
            raise ConfigError(f"distribution: K={k} needs at least {k} bank points and the study has {n}; "
                              f"lower distribution.ks and k, e.g. --set 'distribution.ks=[1,5,10]', or use "
                              "more training points")


def study_meta(cfg: StudyConfig, datasets: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Provenance of the whole study: the config, each model's id and revision, datasets, seeds."""
    specs, labels = api.study_models(cfg)
    models = [{"label": label, "name": m.name, "source": s.source, "revision": s.revision,
               "finetuned": m.finetuned, "classifier": m.classifier} for m, s, label in zip(cfg.models, specs, labels)]
    seeds = {"qa": cfg.qa.seed, "classification": cfg.classification.seed, "adversarial": cfg.adversarial.seed,
             "distribution": cfg.distribution.seed}
    return meta_block(config=cfg.model_dump(mode="json"), models=models, datasets=datasets, seeds=seeds)


def _stage_key(name: str, stage: Stage, cfg: StudyConfig, inputs: Sequence[str]) -> str:
    """Everything a characteristic's tables depend on: its cached inputs (content-addressed paths),
    the models' labels and order, and its config sections."""
    run = Path(cfg.run_dir)
    return content_key({"characteristic": name, "version": meta_block()["version"],
                        "models": [m.model_dump(mode="json") for m in cfg.models],
                        "inputs": [str(Path(p).relative_to(run)) if Path(p).is_relative_to(run) else p for p in inputs],
                        "config": cfg.model_dump(mode="json", include=set(stage.sections))})


def run_stage(name: str, cfg: StudyConfig, ledger: Ledger, progress: bool) -> None:
    """Gather one characteristic's artifacts (cached), then compare and write its folder unless a
    finished folder with the same inputs is there. The folder appears whole or not at all."""
    stage = STAGES.get(name)
    start = len(ledger.events)
    with recording(ledger):
        gathered = stage.gather(cfg, progress)
        key = _stage_key(name, stage, cfg, [a.path for a in ledger.events[start:]])
        folder = Path(cfg.run_dir) / name

        def compare() -> None:
            with atomic_dir(folder) as tmp:
                stage.finish(cfg, gathered, tmp, progress)
                atomic_write_json(tmp / DONE, meta_block(key=key, characteristic=name))

        cached("comparison", folder, f"compare the models' {name} and write {folder}", compare, lambda: None,
               marker=folder / DONE, key=key)


def card_stage(cfg: StudyConfig, ledger: Ledger, progress: bool) -> None:
    """Table 1 (the model card) into RUN_DIR/models/, unless the same models were measured already:
    the weights are those of the characteristics (cached), so only the latency is timed here."""
    from miniature.model_card import study_card
    from miniature.tables import CARD_COLUMNS, write_table

    key = content_key({"models": [m.model_dump(mode="json") for m in cfg.models], "version": meta_block()["version"],
                       "qa": bool(set(cfg.characteristics) & {"errors", "representation", "distribution"}),
                       "config": cfg.model_dump(mode="json", include={"data", "qa", "classification", "adversarial"})})
    folder = Path(cfg.run_dir) / "models"
    with recording(ledger):
        what = "measure every model: layers, parameters, size on disk, sparsity, latency (Table 1)"

        def measure() -> None:
            with atomic_dir(folder) as tmp:
                write_table(tmp, "model_card", study_card(cfg, progress), meta_block(), CARD_COLUMNS, digits=3)
                atomic_write_json(tmp / DONE, meta_block(key=key))

        cached("model card", folder, what, measure, lambda: None, marker=folder / DONE, key=key)


def _read_tables(run_dir: Path, names: Sequence[str]) -> dict[str, Any]:
    import pandas as pd

    tables = {}
    for name in names:
        for csv in sorted((run_dir / name).glob("*.csv")):
            tables[csv.stem] = pd.read_csv(csv)
    return tables


QUICKSTART = Path("configs/quickstart.yaml")


def quickstart_config() -> Path:
    """The config of a bare `miniature run`: configs/quickstart.yaml where the command runs (the
    repository root), else the copy installed with the package."""
    if QUICKSTART.is_file():
        return QUICKSTART
    return Path(__file__).resolve().parent / "configs" / "quickstart.yaml"


def run(config: str | Path | StudyConfig, *, overrides: Sequence[str] = (), progress: bool = False,
        echo: Callable[[str], None] | None = None) -> StudyResult:
    """Run a whole study: every characteristic of `config.characteristics`, in order, then the report.

    Each model is fine-tuned once per task and embedded once per dataset; every artifact is cached
    in the run folder under a key of everything that determines it and reused by every
    characteristic that needs it, so a second run (or one after a crash or `kill -9`) recomputes
    nothing that is finished. Writes RUN_DIR/<characteristic>/ for each, then report.html,
    report.md, table2.csv, table3.csv, figure1.png, the heat maps and results.json.

    Args:
        config: a StudyConfig or the path of a YAML config (`overrides` are its --set values).
        progress: progress bars on every long step.
        echo: where stage lines go (the CLI: stderr); None for silence.
    """
    from miniature.report.study import build_report

    cfg = config if isinstance(config, StudyConfig) else load_config(config, list(overrides))
    say = echo or (lambda _line: None)
    began = time.perf_counter()
    with api.generated_data(cfg):  # removed again if the checks refuse the config
        datasets = preflight(cfg)
    if cfg.generate is not None:
        g = cfg.generate
        say(f"[data] generated data in {g.folder} (seed {g.seed}, scale {g.scale})")
    run_dir = Path(cfg.run_dir)
    atomic_write_json(run_dir / "study.json", {"meta": study_meta(cfg, datasets),
                                               "characteristics": cfg.characteristics})
    ledger = Ledger(echo)
    n = len(cfg.characteristics)
    for i, name in enumerate(cfg.characteristics, 1):
        say(f"[{i}/{n}] {STAGES.get(name).title}")
        run_stage(name, cfg, ledger, progress)
    say("[models] Table 1: size, sparsity and latency of every model on this machine")
    card_stage(cfg, ledger, progress)
    say(f"[report] tables, figures and report.html from {run_dir}")
    report = build_report(run_dir)
    done, cached = ledger.computed, ledger.reused
    say(f"{len(done)} artifacts computed, {len(cached)} taken from the cache, in "
        f"{format_seconds(time.perf_counter() - began)}")
    return StudyResult(cfg, run_dir, report, _read_tables(run_dir, cfg.characteristics), tuple(ledger.events))


__all__ = ["STAGES", "Stage", "StudyResult", "preflight", "quickstart_config", "run", "run_stage"]
