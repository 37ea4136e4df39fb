"""`miniature run`: a whole study from one config, stage by stage over one shared cache, then the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from miniature.characteristics import CHARACTERISTICS, Characteristic
from miniature.checkpoints import check_derivations, study_models
from miniature.config import StudyConfig, load_config
from miniature.data.generate import generated_data
from miniature.exceptions import ConfigError
from miniature.files import is_local_source
from miniature.reportspec import FORMAT as REPORT_FORMAT
from miniature.reportspec import REVISION as SPEC_REVISION
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
from miniature.taskdefs import TASKS


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
    specs, _ = study_models(cfg)
    check_derivations(cfg, specs)
    datasets: dict[str, dict[str, str]] = {}

    def note(key: str, ds: Any) -> None:
        datasets[key] = {"source": ds.source, "fingerprint": ds.fingerprint}

    chosen = [CHARACTERISTICS.get(name) for name in cfg.characteristics]
    for task in dict.fromkeys(t for c in chosen for t in c.task_names(cfg)):  # each task's data and given heads
        TASKS.get(task).check(cfg, specs, note)
    for c in chosen:
        c.preflight(cfg, specs, note)
    check_splits(cfg)
    check_run_dir(Path(cfg.run_dir))
    return datasets


def sections(cfg: StudyConfig) -> list[tuple[str, BaseModel]]:
    """Every section of the config (the study's own and the characteristics'), by name."""
    return [(name, value) for name in type(cfg).model_fields if isinstance(value := getattr(cfg, name), BaseModel)]


def check_splits(cfg: StudyConfig) -> None:
    """A split names a part of a hub dataset: one given beside a local file means nothing, so it
    is refused rather than ignored. Every section's `<key>_split` beside its `<key>` is checked."""
    for section, sec in sections(cfg):
        for split in [f for f in type(sec).model_fields if f.endswith("_split")]:
            key = split.removesuffix("_split")
            source = getattr(sec, key, None)
            if split not in sec.model_fields_set or not isinstance(source, str) or not is_local_source(source):
                continue
            raise ConfigError(f"{section}.{key}_split names a split of a hub dataset, but {section}.{key} is the "
                              f"local file {source}; remove {section}.{key}_split")


def study_meta(cfg: StudyConfig, datasets: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Provenance of the whole study: the config, each model's id and revision, datasets, seeds."""
    specs, labels = study_models(cfg)
    models = [{"label": label, "name": m.name, "source": s.source, "revision": s.revision,
               "finetuned_for": sorted(m.given_tasks)} for m, s, label in zip(cfg.models, specs, labels)]
    seeds = {name: getattr(sec, "seed") for name, sec in sections(cfg) if isinstance(getattr(sec, "seed", None), int)}
    return meta_block(config=cfg.model_dump(mode="json"), models=models, datasets=datasets, seeds=seeds)


def _stage_key(name: str, stage: Characteristic, cfg: StudyConfig, inputs: Sequence[str]) -> str:
    """Everything a characteristic's tables depend on: its cached inputs (content-addressed paths),
    the models' labels and order, and its config sections."""
    run = Path(cfg.run_dir)
    return content_key({"characteristic": name, "version": meta_block()["version"], "report": REPORT_FORMAT,
                        "spec": SPEC_REVISION,
                        "models": [m.model_dump(mode="json") for m in cfg.models],
                        "inputs": [str(Path(p).relative_to(run)) if Path(p).is_relative_to(run) else p for p in inputs],
                        "config": cfg.model_dump(mode="json", include=set(stage.config_sections(cfg)))})


def run_stage(name: str, cfg: StudyConfig, ledger: Ledger, progress: bool) -> None:
    """Gather one characteristic's artifacts (cached), then compare and write its folder unless a
    finished folder with the same inputs is there. The folder appears whole or not at all."""
    stage = CHARACTERISTICS.get(name)
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

    tasks = {t for n in cfg.characteristics for t in CHARACTERISTICS.get(n).task_names(cfg)}
    task_sections = {x for _, t in TASKS.items() for x in t.sections}
    key = content_key({"models": [m.model_dump(mode="json") for m in cfg.models], "version": meta_block()["version"],
                       "qa": "qa" in tasks,
                       # the sections every task's checkpoints depend on (the card measures one task's)
                       "config": cfg.model_dump(mode="json", include=task_sections)})
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
    with generated_data(cfg):  # removed again if the checks refuse the config
        datasets = preflight(cfg)
    if cfg.generate is not None:
        g = cfg.generate
        say(f"[data] generated data in {g.folder} (seed {g.seed}, scale {g.scale})")
    run_dir = Path(cfg.run_dir)
    atomic_write_json(run_dir / "study.json", {"meta": study_meta(cfg, datasets),
                                               "characteristics": cfg.characteristics,
                                               # how the report names one that left no results
                                               "titles": {n: CHARACTERISTICS.get(n).heading
                                                          for n in cfg.characteristics}})
    ledger = Ledger(echo)
    n = len(cfg.characteristics)
    for i, name in enumerate(cfg.characteristics, 1):
        say(f"[{i}/{n}] {CHARACTERISTICS.get(name).title}")
        run_stage(name, cfg, ledger, progress)
    say("[models] Table 1: size, sparsity and latency of every model on this machine")
    card_stage(cfg, ledger, progress)
    say(f"[report] tables, figures and report.html from {run_dir}")
    report = build_report(run_dir)
    done, cached = ledger.computed, ledger.reused
    say(f"{len(done)} artifacts computed, {len(cached)} taken from the cache, in "
        f"{format_seconds(time.perf_counter() - began)}")
    return StudyResult(cfg, run_dir, report, _read_tables(run_dir, cfg.characteristics), tuple(ledger.events))


__all__ = ["StudyResult", "preflight", "quickstart_config", "run", "run_stage"]
