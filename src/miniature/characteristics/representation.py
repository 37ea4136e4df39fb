"""Data representation: models' embeddings (cached) and the per-point Jaccard of their K-NN sets."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from miniature import reportspec as rs
from miniature.agreement import (
    chance_knn_jaccard,
    corrected_jaccard,
    knn_overlaps,
    mean_half_width,
    mean_var,
    pair_order,
)
from miniature.characteristics.base import CHARACTERISTICS, Characteristic, Note, rank, register
from miniature.checkpoints import is_given, pretrained_weights, study_models
from miniature.config import KSweep, Section, StudyConfig, TaskName, positive, with_values
from miniature.data.squad import QADataset
from miniature.exceptions import ConfigError, DataError, MismatchError
from miniature.files import check_npy
from miniature.knn import Backend, Scratch, check_embeddings, check_k, knn
from miniature.runs import RunDir, atomic_write_json, cached, content_key, inputs_meta, meta_block, write_outputs
from miniature.tables import to_markdown, write_table
from miniature.taskdefs import TASKS, Task
from miniature.zoo import ModelSpec, hf_quiet


class RepresentationConfig(Section):
    """Data representation: kNN agreement of every model's embeddings of the dev points."""

    task: TaskName = "qa"  # whose points are embedded, and fine-tuned for which: qa (dev questions), classification
    text: Literal["pair", "question", "context"] = "pair"  # pair: the QA model's first window
    pooling: Literal["cls", "mean", "last"] = "cls"  # the paper's CLS; models without one (T5) use mean; last: decoders
    layer: int = -1  # hidden-states index: -1 the last layer (the paper), 0 the embedding output
    phases: list[Literal["before", "after"]] = Field(["before", "after"], min_length=1)  # fine-tuning
    ks: KSweep = Field([1, 5, 10, 20, 50, 100], min_length=1)  # the K sweep (Figure 1 a, b)
    table_k: int = Field(10, gt=0)  # the K of the pairwise table (the paper's Table 2: 10)
    limit: int | None = Field(None, gt=0)  # first N dev points only (default: data.dev_limit)
    backend: Literal["auto", "faiss", "numpy"] = "auto"  # auto: numpy (BLAS + compiled selection), identical sets
    batch_size: int = Field(64, gt=0)  # most points in one extraction batch
    max_tokens: int | None = Field(None, gt=0)  # most padded tokens a batch (None: 2,048 on CPU)

    @field_validator("phases")
    @classmethod
    def _phases(cls, v: list[str]) -> list[str]:
        return [p for p in ("before", "after") if p in v]

PHASE_TITLES = {"before": "before fine-tuning", "after": "after fine-tuning"}
SWEEP_COLUMNS = ["phase", "model_i", "model_j", "k", "mean", "variance", "ci95", "chance", "corrected", "n_points"]


def embedding_key(checkpoint_id: Any, data: Any, rcfg: RepresentationConfig, task: Task, cfg: StudyConfig,
                  device_type: str) -> str:
    """Everything that determines the vectors: weights, points, how they are read and pooled."""
    from miniature.tasks.training import autocast_dtype

    return content_key({
        "checkpoint": checkpoint_id, "data": data.fingerprint, **task.embedding_fields(cfg, rcfg.text),
        "pooling": rcfg.pooling, "layer": rcfg.layer, "dtype": str(autocast_dtype(task.precision(cfg), device_type)),
    })


def cached_embeddings(spec: ModelSpec, checkpoint: Path | None, checkpoint_id: Any, phase: str, data: Any,
                      rcfg: RepresentationConfig, cfg: StudyConfig, task: Task, run: RunDir,
                      progress: bool = False) -> Path:
    """A model's embeddings of `data` (points of `task`, read as its models read them) as a float32
    .npy in the run folder, extracted unless cached.

    Args:
        checkpoint: a fine-tuned checkpoint folder ("after"), or None for the pretrained weights.
    """
    from miniature.tasks.embed import effective_pooling, embed_to_npy
    from miniature.tasks.training import cuda_available, to_device
    from miniature.zoo import load_encoder, load_tokenizer

    key = embedding_key(checkpoint_id, data, rcfg, task, cfg, "cuda" if cuda_available() else "cpu")
    path = run.path("embeddings", f"{spec.name}-{phase}-{key}.npy")
    done = path.with_suffix(".json")
    what = f"embed {len(data)} points of {Path(data.source).name} with {spec.name} ({phase} fine-tuning)"

    def embed_it() -> Path:
        tokenizer = load_tokenizer(spec, checkpoint)
        model = to_device(load_encoder(spec, checkpoint))
        encoded = task.encode(cfg, tokenizer, data, rcfg.text)
        embed_to_npy(path, model, tokenizer, encoded, pooling=rcfg.pooling, layer=rcfg.layer,
                     batch_size=rcfg.batch_size, max_tokens=rcfg.max_tokens, precision=task.precision(cfg),
                     progress=progress)
        atomic_write_json(done, meta_block(key=key, model=spec.name, phase=phase,
                                           checkpoint=str(checkpoint or spec.source), data=data.source,
                                           data_fingerprint=data.fingerprint, text=rcfg.text,
                                           pooling=effective_pooling(rcfg.pooling, encoded), layer=rcfg.layer))
        return path

    # the .npy is published before its record, so the record says both are whole
    return cached("embeddings", path, what, embed_it, lambda: path, marker=done)


def load_embeddings(path: str | Path, min_points: int = 2) -> np.ndarray:
    """A user's or a cached .npy, memory-mapped; one-line errors for what is not a 2-D float array."""
    path = check_npy(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:  # a truncated or forged file
        why = "it holds Python objects" if "allow_pickle" in str(e) else (str(e).splitlines() or [type(e).__name__])[0]
        raise DataError(f"{path}: not a readable .npy array ({why}); save a 2-D float array with numpy.save") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise DataError(f"{path}: an .npz archive of {len(arr.files)} arrays, not one .npy array; save each "
                        "model's (points x dims) array with numpy.save")
    check_embeddings(arr, str(path), min_points=min_points)
    return arr


@dataclass(frozen=True)
class RepresentationResult:
    """The K sweep of every pair of models in every phase; the table is its K = table_k slice."""

    names: tuple[str, ...]
    phases: tuple[str, ...]
    ks: tuple[int, ...]
    table_k: int
    sweep: tuple[dict, ...]  # rows of SWEEP_COLUMNS

    def row(self, phase: str, i: str, j: str, k: int) -> dict:
        """The sweep row of one pair at one K (either order)."""
        for r in self.sweep:
            if r["phase"] == phase and r["k"] == k and {r["model_i"], r["model_j"]} == {i, j}:
                return r
        raise KeyError((phase, i, j, k))

    def value(self, phase: str, i: str, j: str, k: int) -> tuple[float, float]:
        """(mean, variance) of one pair at one K (either order)."""
        r = self.row(phase, i, j, k)
        return r["mean"], r["variance"]

    def columns(self) -> list[str]:
        return (["model_i", "model_j"] + [f"{p}_{s}" for p in self.phases for s in ("mean", "variance")]
                + [f"{p}_ci95" for p in self.phases] + ["chance"] + [f"{p}_corrected" for p in self.phases])

    def rows(self) -> list[dict]:
        """The pairwise table at K = table_k: mean and variance per phase, pairs in the paper's order,
        then each mean's 95% half-width, the mean's chance level and each phase's corrected mean."""
        out = []
        for i, j in pair_order(self.names):
            row: dict[str, Any] = {"model_i": i, "model_j": j}
            for p in self.phases:
                row[f"{p}_mean"], row[f"{p}_variance"] = self.value(p, i, j, self.table_k)
            for p in self.phases:
                row[f"{p}_ci95"] = self.row(p, i, j, self.table_k)["ci95"]
            for p in self.phases:
                r = self.row(p, i, j, self.table_k)
                row["chance"], row[f"{p}_corrected"] = r["chance"], r["corrected"]
            out.append(row)
        return out

    def markdown(self) -> str:
        return (f"Mean and population variance over points of the per-point Jaccard of the "
                f"K = {self.table_k} nearest-neighbour sets\n\n" + to_markdown(self.rows(), self.columns(), 4))

    def write(self, out_dir: str | Path, meta: dict) -> dict[str, Path]:
        """representation.md/.csv/.json (the table), representation_sweep.* and the K-sweep figure."""
        from miniature.plots import plot_k_sweep

        paths = write_table(out_dir, "representation", self.rows(), meta, self.columns(), digits=4,
                            extra={"k": self.table_k, "variance": "population (ddof=0) over points"})
        sweep = write_table(out_dir, "representation_sweep", list(self.sweep), meta, SWEEP_COLUMNS, digits=4)
        paths.update({f"sweep_{k}": v for k, v in sweep.items()})
        panels = {PHASE_TITLES.get(p, p): [r for r in self.sweep if r["phase"] == p] for p in self.phases}
        paths["figure"] = plot_k_sweep(Path(out_dir) / "representation_k_sweep.png", panels, self.names[0],
                                       "mean Jaccard of K-NN sets")
        paths["report"] = report_spec(self.table_k).write(out_dir)
        return paths


def report_spec(table_k: int) -> rs.ReportSpec:
    """What the report shows of the representation: the K = table_k table, an agreement matrix per
    phase, Table 2's columns and Figure 1's panels."""
    pairs, sweep = rs.Rows("representation"), rs.Rows("representation_sweep")
    phases = (("before", "before fine-tuning"), ("after", "after fine-tuning"))
    cols = ("model_i", "model_j", "before_mean", "before_variance", "after_mean", "after_variance", "before_ci95",
            "after_ci95", "chance", "before_corrected", "after_corrected")
    return rs.ReportSpec(
        Representation.name, Representation.heading, Representation.description, rank=rank(Representation.name),
        files=(rs.ResultFile("representation", ("model_i", "model_j")),
               rs.ResultFile("representation_sweep", ("phase", "model_i", "model_j"), ("k", "mean"))),
        models=(pairs, sweep),
        blocks=(rs.Table(f"Mean and variance over points of the K-NN Jaccard, K = {table_k}", pairs, cols,
                         shade=("before_mean", "after_mean")),),
        agreements=tuple(rs.Agreement(f"representation_{p}", f"Representation {title}: mean K-NN Jaccard",
                                      f"Representation ({title})", pairs, f"{p}_mean", corrected=f"{p}_corrected",
                                      half_width=f"{p}_ci95", chance="chance")
                         for p, title in phases),
        table2=tuple(rs.PairColumn(f"representation_{p}_{stat}", pairs, f"{p}_{stat}", shade=stat == "mean")
                     for p, _ in phases for stat in ("mean", "variance")),
        table2_corrected=tuple(rs.PairColumn(f"representation_{p}", pairs, f"{p}_corrected") for p, _ in phases),
        panels=tuple(rs.Panel(f"Representation {title}", rs.Rows("representation_sweep", where={"phase": p}),
                              "mean Jaccard of K-NN sets") for p, title in phases))


def sweep_rows(phase: str, neighbours: Mapping[str, np.ndarray], ks: Sequence[int]) -> list[dict]:
    """Mean and variance of per-point Jaccard for every pair and K, from each model's K_max-NN, with
    the half-width of its 95% interval (points taken as independent), the mean two unrelated
    embeddings give (K-sets drawn at random from the other n - 1 points) and the mean corrected
    for it."""
    rows = []
    for i, j in pair_order(list(neighbours)):
        inter = knn_overlaps(neighbours[i], neighbours[j], ks)
        n = len(neighbours[i])
        for col, k in enumerate(ks):
            mean, var = mean_var(inter[:, col] / (2 * k - inter[:, col]))
            chance = chance_knn_jaccard(k, n)
            rows.append({"phase": phase, "model_i": i, "model_j": j, "k": k, "mean": mean, "variance": var,
                         "ci95": mean_half_width(var, n), "chance": chance,
                         "corrected": corrected_jaccard(mean, chance), "n_points": n})
    return rows


def compare_representations(phases: Mapping[str, Mapping[str, np.ndarray]], ks: Sequence[int] = (1, 5, 10, 20, 50, 100),
                            table_k: int = 10, backend: Backend = "auto",
                            progress: bool = False) -> RepresentationResult:
    """K-NN agreement of every pair of models, per phase, for every K.

    Args:
        phases: phase name ("before", "after", ...) -> model name -> (n, d) embeddings of the same
            n points in the same order; models in the order of the table (the large one first).
        ks: the sweep; table_k: the K of the pairwise table (added to the sweep if absent).
    """
    ks = tuple(sorted(set(ks) | {table_k}))
    names: tuple[str, ...] | None = None
    rows: list[dict] = []
    scratch = Scratch()  # one block of similarities for every model's search
    for phase, models in phases.items():
        if len(models) < 2:
            raise DataError(f"phase {phase!r}: comparing representations needs at least two models, got {len(models)}")
        for name, arr in models.items():
            if arr.ndim != 2:  # values are checked by the neighbour search itself
                raise DataError(f"{name}: embeddings must be a 2-D array (points x dimensions), got shape {arr.shape}")
        counts = {name: arr.shape[0] for name, arr in models.items()}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{n} {c}" for n, c in counts.items())
            raise MismatchError(f"phase {phase!r}: embeddings cover different numbers of points ({listed}); "
                                "embed the same points with every model")
        if names is not None and tuple(models) != names:
            raise MismatchError(f"phase {phase!r} compares models {list(models)}, another phase {list(names)}; "
                                "give every phase the same models in the same order")
        n = next(iter(counts.values()))
        check_k(ks[-1], n)
        items = list(models.items())
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(items, desc=f"neighbours ({phase})", leave=False)
        neighbours = {name: knn(arr, ks[-1], backend, name=name, scratch=scratch) for name, arr in items}
        rows += sweep_rows(phase, neighbours, ks)
        names = names or tuple(models)
    assert names is not None
    return RepresentationResult(names, tuple(phases), ks, table_k, tuple(rows))


# ---- a study's part: every model's artifacts (cached), then the comparison written into a folder


def compare_embedding_files(embeddings: Sequence[str | Path], after: Sequence[str | Path] = (),
                            names: Sequence[str] = (), knobs: dict[str, Any] | None = None,
                            out: str | Path | None = None, progress: bool = False) -> RepresentationResult:
    """Compare .npy embedding files, one per model (rows = the same points in the same order; with
    `after`, a second set from the fine-tuned models, and `embeddings` count as "before"). `knobs`
    replaces values of the representation section (ks, table_k, backend). Writes
    representation.md/.csv/.json, representation_sweep.*, representation_k_sweep.png and the
    report spec into `out`, if given."""
    rcfg = with_values(RepresentationConfig(), knobs or {})
    groups = {"before": list(embeddings), "after": list(after)} if after else {"embeddings": list(embeddings)}
    if not embeddings:
        raise ConfigError("--after needs --embeddings, the models' files before fine-tuning")
    if after and len(embeddings) != len(after):
        raise ConfigError(f"--embeddings gives {len(embeddings)} files, --after {len(after)}; one each per model")
    for phase, files in groups.items():
        if names and len(names) != len(files):
            raise ConfigError(f"--names gives {len(names)} names for {len(files)} {phase} files")
    labels = list(names) or [Path(p).stem for p in embeddings]
    if len(set(labels)) != len(labels):
        raise ConfigError("two inputs share a name; give distinct --names")
    phases = {p: {n: load_embeddings(f) for n, f in zip(labels, fs)} for p, fs in groups.items() if fs}
    if after:
        n_before, n_after = (len(next(iter(phases[p].values()))) for p in ("before", "after"))
        if n_before != n_after:
            raise MismatchError(f"the --embeddings files hold {n_before} points, the --after files {n_after}; "
                                "both must embed the same points in the same order")
    meta = meta_block(inputs=inputs_meta([*embeddings, *after]))
    result = compare_representations(phases, rcfg.ks, rcfg.table_k, rcfg.backend, progress)
    if out is not None:
        write_outputs(out, lambda d: result.write(d, meta), "representation")
    return result


def model_embeddings(cfg: StudyConfig, progress: bool = False) -> tuple[dict[str, dict[str, np.ndarray]], Any]:
    """Every model's embeddings of the points of the section's task (QA: the dev questions), before
    and/or after fine-tuning for that task (all cached).

    Returns phase -> model label -> memory-mapped (n, d) float32 array, and the points' dataset.
    """
    specs, labels = study_models(cfg)
    rcfg = cfg.representation
    task = TASKS.get(rcfg.task)
    pre = [m.display for i, m in enumerate(cfg.models) if is_given(cfg, i, task.name)]
    if "before" in rcfg.phases and pre:
        raise ConfigError(f"model {pre[0]!r} is already fine-tuned for {task.name} (finetuned_for), so it has no "
                          "'before' embeddings; set representation.phases to [after]")
    points = task.points(cfg, rcfg.limit)
    train = task.train_data(cfg) if "after" in rcfg.phases else None
    run = RunDir(cfg.run_dir)
    hf_quiet(progress)
    phases: dict[str, dict[str, np.ndarray]] = {p: {} for p in rcfg.phases}
    for i, (spec, label) in enumerate(zip(specs, labels)):
        for phase in rcfg.phases:
            # a zero-shot task's models are the same before and after: a distilled or pruned variant
            # as the task derives it, not its untrained or unpruned base
            if phase == "after" or not task.fine_tunes(cfg):
                ckpt_path, ckpt_id = task.weights(cfg, i, specs, train, run, progress)
            else:
                ckpt_path, ckpt_id = pretrained_weights(cfg, i, specs, run, progress)
            path = cached_embeddings(spec, ckpt_path, ckpt_id, phase, points, rcfg, cfg, task, run, progress)
            phases[phase][label] = load_embeddings(path)
    return phases, points


def finish_representation(cfg: StudyConfig, gathered: tuple[dict[str, dict[str, np.ndarray]], QADataset],
                          out: str | Path | None = None, progress: bool = False) -> RepresentationResult:
    """Compare the embeddings `model_embeddings` gathered; write the tables and figure into `out`."""
    phases, dev = gathered
    rcfg = cfg.representation
    result = compare_representations(phases, rcfg.ks, rcfg.table_k, rcfg.backend, progress)
    if out is not None:
        meta = meta_block(models=[m.model_dump() for m in cfg.models], dev=dev.source,
                          dev_fingerprint=dev.fingerprint, representation=rcfg.model_dump(),
                          max_seq_length=cfg.qa.max_seq_length, run_dir=str(cfg.run_dir))
        write_outputs(out, lambda d: result.write(d, meta), "representation")
    return result


def representation(config: str | Path | StudyConfig | None = None, *, embeddings: Sequence[str | Path] = (),
                   after: Sequence[str | Path] = (), names: Sequence[str] = (), ks: Sequence[int] | None = None,
                   table_k: int | None = None, backend: str | None = None, out: str | Path | None = None,
                   overrides: Sequence[str] = (), progress: bool = False) -> RepresentationResult:
    """Compare the data representation of models by the agreement of their K-NN sets.

    Either `config` (every model embedded before and after fine-tuning, all cached) or
    `embeddings` (.npy files, one per model, rows = the same points in the same order; with
    `after`, a second set from the fine-tuned models, and `embeddings` count as "before").
    `ks`, `table_k` and `backend` override the config's representation section. Writes
    representation.md/.csv/.json, representation_sweep.* and representation_k_sweep.png into
    `out`, if given.
    """
    if (config is not None) == bool(embeddings or after):
        raise ConfigError("give exactly one of a config or --embeddings")
    knobs = {k: v for k, v in (("ks", ks), ("table_k", table_k), ("backend", backend)) if v is not None}
    if config is None:
        return compare_embedding_files(embeddings, after, names, knobs, out, progress)
    return CHARACTERISTICS.get(Representation.name).measure(config, knobs=knobs, out=out, overrides=overrides,
                                                progress=progress)


@register
class Representation(Characteristic):
    """Data representation: every model's embeddings of the dev points, before and after QA
    fine-tuning, and the per-point agreement of their K nearest neighbours, swept over K."""

    name = "representation"
    api = staticmethod(representation)
    config = RepresentationConfig
    heading = "Data representation"
    title = "data representation: embed dev before and after fine-tuning, compare K-NN sets"
    description = ("data representation: per-point Jaccard of the K-nearest-neighbour sets of models' CLS "
                   "embeddings, before and after fine-tuning, swept over K")
    sections = ("data", "qa", "representation")
    tasks = ("qa",)

    def task_names(self, cfg: StudyConfig) -> tuple[str, ...]:
        return (cfg.representation.task,)

    def config_sections(self, cfg: StudyConfig) -> tuple[str, ...]:
        return ("representation", *TASKS.get(cfg.representation.task).sections)
    verb_help = "compare models' embeddings by the agreement of their K-NN sets"

    def cli_arguments(self, inputs: Any, parser: Any) -> None:
        inputs.add_argument("--embeddings", nargs="+", metavar="A.npy",
                            help="one (points x dims) .npy per model, rows = the same points in the same order")
        parser.add_argument("--after", nargs="+", metavar="A.npy", help="with --embeddings: the fine-tuned models' "
                            ".npy files (then --embeddings are 'before')")
        parser.add_argument("--names", nargs="+", help="labels for the models, in order (the large one first)")
        parser.add_argument("--ks", type=positive, nargs="+", help="the K sweep (default 1 5 10 20 50 100)")
        parser.add_argument("--table-k", type=positive, help="the K of the pairwise table (default 10, the paper's)")
        parser.add_argument("--backend", choices=["auto", "faiss", "numpy"], help="neighbour search (default: auto)")

    def cli_knobs(self, args: Any) -> dict[str, Any]:
        return {k: v for k, v in (("ks", args.ks), ("table_k", args.table_k), ("backend", args.backend))
                if v is not None}

    def check_arguments(self, args: Any) -> None:
        if args.config and (args.after or args.names):
            raise ConfigError("--after and --names are for --embeddings files; a config's models are named by their "
                              "`label` and embedded before and after fine-tuning")

    def compare_files(self, args: Any, knobs: dict[str, Any], out: Path, progress: bool = False) -> Any:
        return compare_embedding_files(args.embeddings, args.after or (), args.names or (), knobs, out, progress)

    def preflight(self, cfg: StudyConfig, specs: list, note: Note) -> None:
        rcfg = cfg.representation
        task = TASKS.get(rcfg.task)  # an unknown one fails here, naming the known
        if task.name != "qa" and "text" in rcfg.model_fields_set:
            raise ConfigError(f"representation.text chooses what of a QA point is read; a {task.name} point is its "
                              "text: remove representation.text")
        n = len(task.points(cfg, rcfg.limit))
        k = max([*rcfg.ks, rcfg.table_k])
        if k >= n:
            raise ConfigError(f"representation: K={k} needs more than {k} dev points (a point is not its own "
                              f"neighbour) and the study has {n}; lower representation.ks and table_k, "
                              f"e.g. --set 'representation.ks=[1,5,10]', or use more points")

    def gather(self, cfg: StudyConfig, progress: bool = False) -> Any:
        return model_embeddings(cfg, progress)

    def finish(self, cfg: StudyConfig, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        return finish_representation(cfg, gathered, out, progress)
