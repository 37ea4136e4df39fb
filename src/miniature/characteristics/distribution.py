"""Data distribution: every model's Deep kNN OOD set of the test points, and their pairwise Jaccard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from miniature import reportspec as rs
from miniature.agreement import pair_order, set_pair
from miniature.characteristics.base import CHARACTERISTICS, Characteristic, Note, rank, register
from miniature.characteristics.representation import cached_embeddings, load_embeddings
from miniature.checkpoints import study_models
from miniature.config import KSweep, Section, StudyConfig, positive, with_values
from miniature.data.squad import QADataset, load_qa_dataset
from miniature.exceptions import ConfigError, DataError, MismatchError
from miniature.ood import (
    Detection,
    IndexSpec,
    SearchBackend,
    build_index,
    check_bank,
    check_tpr,
    detect,
    dknn_normalize,
    kth_distances,
    recall,
    resolve_backend,
    search,
)
from miniature.runs import RunDir, atomic_write_json, inputs_meta, meta_block, write_outputs
from miniature.tables import to_markdown, write_table
from miniature.taskdefs import TASKS, Task
from miniature.zoo import hf_quiet


class DistributionConfig(Section):
    """Data distribution: Deep kNN OOD detection (Sun et al., 2022) on every fine-tuned model's features.

    Features are the representation section's embeddings (text, pooling, layer) after QA
    fine-tuning: the bank is the training data, validation is the dev data, both in-distribution.
    """

    test: str | None = None  # the OOD test set: a SQuAD-format .json/.jsonl or a hub id (the paper: NewsQA)
    test_split: str = "validation"  # split of a hub test set
    test_limit: int | None = Field(None, gt=0)  # first N test questions
    bank_limit: int | None = Field(None, gt=0)  # first N training questions in the bank (default: data.train_limit)
    val_limit: int | None = Field(None, gt=0)  # first N dev questions (default: representation.limit, data.dev_limit)
    alpha: float = Field(1.0, gt=0, le=1)  # random share of the bank kept (Deep kNN's alpha)
    seed: int = 42  # which share alpha draws, and the recall sample
    k: int = Field(10, gt=0)  # the K of the table (the paper: 10)
    ks: KSweep = Field([1, 5, 10, 20, 50, 100], min_length=1)  # the K sweep (Figure 1 c)
    tpr: float = Field(0.95, gt=0, lt=1)  # share of in-distribution validation points kept
    backend: Literal["auto", "faiss", "numpy", "bf16", "torch"] = "auto"  # auto: GPU FAISS/torch, else bf16 or numpy
    index: Literal["exact", "ivf", "hnsw"] = "exact"  # approximate indices report their recall
    nlist: int | None = Field(None, gt=0)  # IVF cells (default 4 sqrt(bank))
    nprobe: int = Field(16, gt=0)  # IVF cells searched per query
    hnsw_m: int = Field(32, gt=1)  # HNSW links per node
    ef_search: int = Field(128, gt=0)  # HNSW search breadth
    recall_sample: int = Field(1000, gt=0)  # queries on which an approximate index's recall is measured

EXACT = IndexSpec()  # the default: exact (flat) search
DETECTOR_COLUMNS = ["model", "k", "threshold", "flagged", "share_flagged", "auroc", "aupr", "fpr_at_tpr",
                    "n_bank", "n_val", "n_test"]
PAIR_COLUMNS = ["model_i", "model_j", "jaccard", "jaccard_ci_low", "jaccard_ci_high", "chance_jaccard",
                "corrected_jaccard", "p_overlap", "flagged_i", "flagged_j", "intersection", "union"]
# mean: the Jaccard
SWEEP_COLUMNS = ["k", "model_i", "model_j", "mean", "chance", "corrected", "flagged_i", "flagged_j"]


FEATURE_NAMES = ("bank", "validation features", "test features")


@dataclass(frozen=True)
class Features:
    """One model's features: the in-distribution bank, held-out in-distribution points, test points."""

    bank: np.ndarray
    val: np.ndarray
    test: np.ndarray


def subsample(n: int, alpha: float, seed: int) -> np.ndarray:
    """Sorted indices of a random share `alpha` of n bank points (at least one), the same for every model."""
    if not 0 < alpha <= 1:
        raise DataError(f"alpha {alpha} must lie in (0, 1]: the share of the bank kept")
    if alpha == 1:
        return np.arange(n)
    size = max(1, round(alpha * n))
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


@dataclass(frozen=True)
class ModelDetections:
    """One model's detections at every K of the sweep, and the approximate index's recall, if any."""

    name: str
    n_bank: int
    n_val: int
    detections: tuple[Detection, ...]
    recall: float | None = None

    def at(self, k: int) -> Detection:
        return next(d for d in self.detections if d.k == k)


def detect_model(name: str, feats: Features, ks: Sequence[int], tpr: float, backend: SearchBackend = "auto",
                 index: IndexSpec = EXACT, recall_sample: int = 1000, seed: int = 0) -> ModelDetections:
    """Score validation and test points against the bank at every K; threshold and flag per K."""
    check_bank(feats.bank, [feats.val, feats.test], ks, f"model {name!r}", FEATURE_NAMES)
    built, rec = None, None
    if index.kind != "exact" or resolve_backend(backend) == "faiss":  # one index for val and test
        xb = dknn_normalize(feats.bank)
        built = build_index(xb, index, seed)
    if index.kind != "exact":
        queries = np.concatenate([dknn_normalize(feats.val), dknn_normalize(feats.test)])
        pick = np.random.default_rng(seed).choice(len(queries), size=min(recall_sample, len(queries)), replace=False)
        kmax = max(ks)
        rec = recall(search(build_index(xb), queries[pick], kmax)[1], search(built, queries[pick], kmax)[1])
    val = -kth_distances(feats.bank, feats.val, ks, backend, built)
    test = -kth_distances(feats.bank, feats.test, ks, backend, built)
    dets = tuple(detect(val[:, c], test[:, c], k, tpr) for c, k in enumerate(ks))
    return ModelDetections(name, len(feats.bank), len(feats.val), dets, rec)


@dataclass(frozen=True)
class DistributionResult:
    """Every model's OOD sets of the same test points at every K; the table is the K = table_k slice."""

    models: tuple[ModelDetections, ...]
    test_ids: tuple[str, ...]
    ks: tuple[int, ...]
    table_k: int
    tpr: float
    index: IndexSpec

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def ood_ids(self, name: str, k: int | None = None) -> list[str]:
        det = next(m for m in self.models if m.name == name).at(k or self.table_k)
        return [self.test_ids[i] for i in np.flatnonzero(det.ood)]

    def pair(self, i: str, j: str, k: int | None = None) -> dict:
        """Two models' OOD sets at K: Jaccard with its 95% bootstrap interval over the test points, its
        chance level (sets of the same sizes drawn from the test points), the chance-corrected
        Jaccard and the p-value of the overlap."""
        k = k or self.table_k
        sp = set_pair(i, set(self.ood_ids(i, k)), j, set(self.ood_ids(j, k)), len(self.test_ids))
        low, high = sp.ci or (None, None)
        return {"model_i": i, "model_j": j, "jaccard": sp.jaccard, "jaccard_ci_low": low, "jaccard_ci_high": high,
                "chance_jaccard": sp.chance,
                "corrected_jaccard": sp.corrected, "p_overlap": sp.p_overlap, "flagged_i": sp.size_i,
                "flagged_j": sp.size_j, "intersection": sp.intersection, "union": sp.union}

    def rows(self) -> list[dict]:
        """The pairwise table at K = table_k, pairs in the paper's order."""
        return [self.pair(i, j) for i, j in pair_order(self.names)]

    def detector_rows(self) -> list[dict]:
        """Every model's detector at every K: threshold, flagged share and quality (OOD positive)."""
        out = []
        for m in self.models:
            for d in m.detections:
                out.append({"model": m.name, "k": d.k, "threshold": d.threshold, "flagged": int(d.ood.sum()),
                            "share_flagged": d.share, "auroc": d.auroc, "aupr": d.aupr, "fpr_at_tpr": d.fpr_at_tpr,
                            "n_bank": m.n_bank, "n_val": m.n_val, "n_test": len(self.test_ids)}
                           | ({"recall": m.recall} if m.recall is not None else {}))
        return out

    def sweep(self) -> list[dict]:
        out = []
        for k in self.ks:
            for i, j in pair_order(self.names):
                p = self.pair(i, j, k)
                out.append({"k": k, "model_i": i, "model_j": j, "mean": p["jaccard"], "chance": p["chance_jaccard"],
                            "corrected": p["corrected_jaccard"], "flagged_i": p["flagged_i"],
                            "flagged_j": p["flagged_j"]})
        return out

    def markdown(self) -> str:
        det = [r for r in self.detector_rows() if r["k"] == self.table_k]
        cols = DETECTOR_COLUMNS[:8] + (["recall"] if any("recall" in r for r in det) else [])
        return (f"Jaccard of the Deep kNN OOD sets (K = {self.table_k}, threshold keeping {self.tpr:.0%} of "
                f"in-distribution validation points)\n\n" + to_markdown(self.rows(), PAIR_COLUMNS, 4)
                + "\nDetectors (OOD is the positive class)\n\n" + to_markdown(det, cols, 4))

    def write(self, out_dir: str | Path, meta: dict) -> dict[str, Path]:
        """distribution.md/.csv/.json, distribution_detectors.*, distribution_sweep.*, the K-sweep
        figure and ood_sets.json (the ids each model flags, per K)."""
        from miniature.plots import plot_k_sweep

        extra = {"k": self.table_k, "tpr": self.tpr, "index": self.index.__dict__, "positive_class": "OOD",
                 "threshold_rule": "keep the ceil(tpr * n_val) highest-scoring validation points"}
        paths = write_table(out_dir, "distribution", self.rows(), meta, PAIR_COLUMNS, digits=4, extra=extra)
        det = self.detector_rows()
        cols = DETECTOR_COLUMNS + (["recall"] if any("recall" in r for r in det) else [])
        for key, p in write_table(out_dir, "distribution_detectors", det, meta, cols, 4, extra).items():
            paths[f"detectors_{key}"] = p
        for key, p in write_table(out_dir, "distribution_sweep", self.sweep(), meta, SWEEP_COLUMNS, 4).items():
            paths[f"sweep_{key}"] = p
        paths["figure"] = plot_k_sweep(Path(out_dir) / "distribution_k_sweep.png",
                                       {"data distribution (Deep kNN OOD sets)": self.sweep()}, self.names[0],
                                       "Jaccard of OOD sets")
        paths["ood_sets"] = atomic_write_json(Path(out_dir) / "ood_sets.json", {
            "meta": meta, "n_test": len(self.test_ids),
            "sets": {m.name: {str(k): self.ood_ids(m.name, k) for k in self.ks} for m in self.models}})
        paths["report"] = report_spec(self.table_k, self.tpr).write(out_dir)
        return paths


def report_spec(table_k: int, tpr: float) -> rs.ReportSpec:
    """What the report shows of the distribution: the OOD sets' agreement and the detectors at K =
    table_k, the agreement matrix, Table 2's column, AUROC per model and Figure 1's panel."""
    pairs, sweep = rs.Rows("distribution"), rs.Rows("distribution_sweep")
    detectors = rs.Rows("distribution_detectors", where={"k": table_k})
    return rs.ReportSpec(
        Distribution.name, Distribution.heading, Distribution.description, rank=rank(Distribution.name),
        files=(rs.ResultFile("distribution", ("model_i", "model_j"), ("jaccard",)),
               rs.ResultFile("distribution_detectors", ("model",), ("k", "auroc", "share_flagged")),
               rs.ResultFile("distribution_sweep", ("model_i", "model_j"), ("k", "mean"))),
        models=(pairs, rs.Rows("distribution_detectors"), sweep),
        blocks=(rs.Table(f"Agreement of OOD sets (Deep kNN, K = {table_k}, threshold keeping {tpr:.0%} of "
                         "in-distribution points)", pairs,
                         ("model_i", "model_j", "jaccard", "jaccard_ci_low", "jaccard_ci_high", "chance_jaccard",
                          "corrected_jaccard", "flagged_i", "flagged_j", "intersection", "union"), shade=("jaccard",)),
                rs.Table(f"Detectors at K = {table_k} (OOD is the positive class)", detectors,
                         ("model", "threshold", "flagged", "share_flagged", "auroc", "aupr", "fpr_at_tpr"))),
        agreements=(rs.Agreement("distribution", "Data distribution: Jaccard of OOD sets", "Data distribution", pairs,
                                 "jaccard", corrected="corrected_jaccard", low="jaccard_ci_low",
                                 high="jaccard_ci_high", chance="chance_jaccard"),),
        table2=(rs.PairColumn("distribution", pairs, "jaccard"),),
        table2_corrected=(rs.PairColumn("distribution", pairs, "corrected_jaccard"),),
        per_model=(rs.ModelColumns(detectors, "model", {"ood_auroc": "auroc", "share_flagged": "share_flagged"}),),
        bars=(rs.Bars("models_ood_auroc.png", {"ood_auroc": "AUROC"}, "OOD detection (Deep kNN)", "AUROC",
                      "How well each model's Deep kNN detector separates OOD from in-distribution points.",
                      reference=(0.5, "chance")),),
        panels=(rs.Panel("Data distribution (OOD sets)", sweep, "Jaccard of OOD sets"),))


def check_features(features: Mapping[str, Features], ks: Sequence[int],
                   files: Mapping[str, Sequence[str]] | None = None) -> None:
    """Every model's bank, validation and test features searchable at every K (widths agree, K
    within the bank), checked for all models before any search; `files` names each model's three
    files for the messages."""
    kmax = max(ks)
    for name, f in features.items():
        bank, val, test = list(files[name]) if files and name in files else FEATURE_NAMES
        if not all(x.ndim == 2 for x in (f.bank, f.val, f.test)):
            continue  # detect_model's check_bank says so, naming the array
        for q, q_name in ((f.val, val), (f.test, test)):
            if q.shape[1] != f.bank.shape[1]:
                raise DataError(f"model {name!r}: {q_name} has {q.shape[1]} dimensions but {bank} has "
                                f"{f.bank.shape[1]}; give features of one model (the same layer and pooling)")
        if kmax > len(f.bank):
            raise DataError(f"model {name!r}: K={kmax} needs at least {kmax} bank points and {bank} has "
                            f"{len(f.bank)}; lower K or use a bigger bank (alpha)")


def compare_distributions(features: Mapping[str, Features], ks: Sequence[int] = (1, 5, 10, 20, 50, 100),
                          table_k: int = 10, tpr: float = 0.95, backend: SearchBackend = "auto",
                          index: IndexSpec = EXACT, test_ids: Sequence[str] | None = None,
                          recall_sample: int = 1000, seed: int = 0, progress: bool = False,
                          files: Mapping[str, Sequence[str]] | None = None) -> DistributionResult:
    """Deep kNN OOD sets of every model over the same test points, at every K.

    Args:
        features: model name -> its bank, validation and test features (models in table order,
            the large one first); every model's test rows are the same points in the same order.
        test_ids: names of the test points (default: their row numbers).
        files: model name -> its bank, validation and test files, named in the messages.
    """
    check_tpr(tpr)
    ks = tuple(sorted(set(ks) | {table_k}))
    if len(features) < 2:
        raise DataError(f"comparing OOD sets needs at least two models, got {len(features)}")
    counts = {name: len(f.test) for name, f in features.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{n} {c}" for n, c in counts.items())
        raise MismatchError(f"test features cover different numbers of points ({listed}); "
                            "score the same test points with every model")
    check_features(features, ks, files)  # every model, before any search
    n_test = next(iter(counts.values()))
    ids = tuple(str(i) for i in (test_ids if test_ids is not None else range(n_test)))
    if len(ids) != n_test:
        raise MismatchError(f"{len(ids)} test ids for {n_test} test points")
    items: Any = list(features.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="Deep kNN", leave=False)
    models = tuple(detect_model(name, f, ks, tpr, backend, index, recall_sample, seed) for name, f in items)
    return DistributionResult(models, ids, ks, table_k, tpr, index)


# ---- a study's part: every model's artifacts (cached), then the comparison written into a folder


def bank_dataset(cfg: StudyConfig, task: Task | None = None) -> Any:
    """The in-distribution bank's points: the task's training data (bank_limit), a random share alpha of it."""
    dcfg = cfg.distribution
    task = task or TASKS.get(cfg.representation.task)
    train = task.bank(cfg, dcfg.bank_limit)
    if dcfg.alpha == 1:
        return train
    keep = subsample(len(train), dcfg.alpha, dcfg.seed)
    return task.subset(train, keep, f"[alpha={dcfg.alpha},seed={dcfg.seed}]")


def _strip_bank(stem: str) -> str:
    """A model's label from its bank file: bert-base_bank.npy -> bert-base."""
    for suffix in ("_bank", "-bank", ".bank"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def load_features(path: str | Path) -> np.ndarray:
    """A feature file (.npy), memory-mapped; one point is enough (a bank may hold a single point)."""
    return load_embeddings(path, min_points=1)


def compare_feature_files(bank: Sequence[str | Path], val: Sequence[str | Path], test: Sequence[str | Path],
                          names: Sequence[str] = (), knobs: dict[str, Any] | None = None,
                          out: str | Path | None = None, progress: bool = False) -> DistributionResult:
    """Compare Deep kNN OOD sets from feature files: `bank`, `val` and `test`, one .npy per model
    each, in the same model order (test rows = the same points for every model). `knobs` replaces
    values of the distribution section (k, ks, tpr, alpha, index, backend). Writes
    distribution.md/.csv/.json, distribution_detectors.*, distribution_sweep.*,
    distribution_k_sweep.png, ood_sets.json and the report spec into `out`, if given."""
    dcfg = with_values(DistributionConfig(), knobs or {})
    if not (len(bank) == len(val) == len(test)):
        raise ConfigError(f"--bank, --val and --test give {len(bank)}, {len(val)} and {len(test)} files; "
                          "give one of each per model")
    if names and len(names) != len(bank):
        raise ConfigError(f"--names gives {len(names)} names for {len(bank)} models")
    labels = list(names) or [_strip_bank(Path(p).stem) for p in bank]
    if len(set(labels)) != len(labels):
        raise ConfigError("two models share a name; give distinct --names")
    features = {}
    for label, b, v, t in zip(labels, bank, val, test):
        arr = load_features(b)
        keep = subsample(len(arr), dcfg.alpha, dcfg.seed)
        features[label] = Features(arr if len(keep) == len(arr) else arr[keep], load_features(v), load_features(t))
    named = {label: [str(b), str(v), str(t)] for label, b, v, t in zip(labels, bank, val, test)}
    meta = meta_block(inputs=inputs_meta([*bank, *val, *test]), alpha=dcfg.alpha, seed=dcfg.seed)
    result = _compare_features(features, dcfg, None, progress, named)
    if out is not None:
        write_outputs(out, lambda d: result.write(d, meta), "distribution")
    return result


def model_features(cfg: StudyConfig, progress: bool = False) -> tuple[dict[str, Features], Any]:
    """Every fine-tuned model's features of the bank (the task's training data), validation (its
    compared points: QA's dev) and test points (distribution.test).

    All are the representation section's embeddings after fine-tuning for its task, cached in the
    run folder under the same keys, so the validation features are the representation
    characteristic's "after" embeddings, never computed twice. Returns model label -> Features,
    and the test dataset.
    """
    specs, labels = study_models(cfg)
    dcfg, rcfg = cfg.distribution, cfg.representation
    task = TASKS.get(rcfg.task)
    if dcfg.test is None:
        raise ConfigError("distribution.test is not set: give the OOD test set as a SQuAD-format .json/.jsonl "
                          "or hub id (the paper: NewsQA), e.g. --set distribution.test=PATH")
    test = task.read(cfg, dcfg.test, dcfg.test_split, dcfg.test_limit)
    val = task.points(cfg, dcfg.val_limit or rcfg.limit)
    bank = bank_dataset(cfg, task)
    train = task.train_data(cfg)
    run = RunDir(cfg.run_dir)
    hf_quiet(progress)
    out = {}
    for i, (spec, label) in enumerate(zip(specs, labels)):
        ckpt_path, ckpt_id = task.weights(cfg, i, specs, train, run, progress)
        arrays = [load_embeddings(cached_embeddings(spec, ckpt_path, ckpt_id, "after", ds, rcfg, cfg, task, run,
                                                    progress)) for ds in (bank, val, test)]
        out[label] = Features(*arrays)
    return out, test


def _index_spec(dcfg: DistributionConfig) -> IndexSpec:
    return IndexSpec(dcfg.index, dcfg.nlist, dcfg.nprobe, dcfg.hnsw_m, dcfg.ef_search)


def _compare_features(features: dict[str, Features], dcfg: DistributionConfig, test_ids: Sequence[str] | None,
                      progress: bool, files: Mapping[str, Sequence[str]] | None = None) -> DistributionResult:
    return compare_distributions(features, dcfg.ks, dcfg.k, dcfg.tpr, dcfg.backend, _index_spec(dcfg), test_ids,
                                 dcfg.recall_sample, dcfg.seed, progress, files)


def finish_distribution(cfg: StudyConfig, gathered: tuple[dict[str, Features], QADataset],
                        out: str | Path | None = None, progress: bool = False) -> DistributionResult:
    """Detect and compare with the features `model_features` gathered; write tables, figure and OOD sets."""
    features, test_ds = gathered
    dcfg = cfg.distribution
    result = _compare_features(features, dcfg, test_ds.ids, progress)
    if out is not None:
        meta = meta_block(models=[m.model_dump() for m in cfg.models], bank=cfg.data.train,
                          dev=cfg.data.dev, test=test_ds.source, test_fingerprint=test_ds.fingerprint,
                          distribution=dcfg.model_dump(), representation=cfg.representation.model_dump(),
                          run_dir=str(cfg.run_dir))
        write_outputs(out, lambda d: result.write(d, meta), "distribution")
    return result


def distribution(config: str | Path | StudyConfig | None = None, *, bank: Sequence[str | Path] = (),
                 val: Sequence[str | Path] = (), test: Sequence[str | Path] = (), names: Sequence[str] = (),
                 k: int | None = None, ks: Sequence[int] | None = None, tpr: float | None = None,
                 alpha: float | None = None, index: str | None = None, backend: str | None = None,
                 out: str | Path | None = None, overrides: Sequence[str] = (),
                 progress: bool = False) -> DistributionResult:
    """Compare which test points each model's Deep kNN detector calls out of distribution.

    Either `config` (every model fine-tuned, its features of train/dev/test extracted, all
    cached) or feature files: `bank`, `val` and `test`, one .npy per model each, in the same
    model order (test rows = the same points for every model). The other arguments override the
    config's distribution section. Writes distribution.md/.csv/.json, distribution_detectors.*,
    distribution_sweep.*, distribution_k_sweep.png and ood_sets.json into `out`, if given.
    """
    if (config is not None) == bool(bank or val or test):
        raise ConfigError("give exactly one of a config or --bank/--val/--test feature files")
    knobs = {key: v for key, v in (("k", k), ("ks", ks), ("tpr", tpr), ("alpha", alpha), ("index", index),
                                   ("backend", backend)) if v is not None}
    if config is None:
        return compare_feature_files(bank, val, test, names, knobs, out, progress)
    return CHARACTERISTICS.get(Distribution.name).measure(config, knobs=knobs, out=out, overrides=overrides,
                                                progress=progress)


@register
class Distribution(Characteristic):
    """Data distribution: every fine-tuned model's Deep kNN detector (bank: the training data,
    threshold: a TPR on dev) on the OOD test set, and the pairwise agreement of what they flag."""

    name = "distribution"
    api = staticmethod(distribution)
    config = DistributionConfig
    heading = "Data distribution"
    title = "data distribution: Deep kNN OOD detection on the test set, compare OOD sets"
    description = ("data distribution: Jaccard of the sets of test points (NewsQA) each fine-tuned model's Deep "
                   "kNN detector calls out of distribution, swept over K")
    sections = ("data", "qa", "representation", "distribution")
    tasks = ("qa",)

    def task_names(self, cfg: StudyConfig) -> tuple[str, ...]:
        return (cfg.representation.task,)  # the representation's task: its points and checkpoints

    def config_sections(self, cfg: StudyConfig) -> tuple[str, ...]:
        return ("representation", "distribution", *TASKS.get(cfg.representation.task).sections)
    verb_help = "compare which test points models' Deep kNN detectors call OOD"

    def cli_arguments(self, inputs: Any, parser: Any) -> None:
        inputs.add_argument("--bank", nargs="+", metavar="A.npy",
                            help="one in-distribution bank (points x dims) .npy per model")
        parser.add_argument("--val", nargs="+", metavar="A.npy",
                            help="with --bank: held-out in-distribution features, per model")
        parser.add_argument("--test", nargs="+", metavar="A.npy",
                            help="with --bank: test features (the same points), per model")
        parser.add_argument("--names", nargs="+", help="labels for the models, in order (the large one first)")
        parser.add_argument("--k", type=positive, help="the K of the table (default 10, the paper's)")
        parser.add_argument("--ks", type=positive, nargs="+", help="the K sweep (default 1 5 10 20 50 100)")
        parser.add_argument("--tpr", type=float, help="share of validation points kept in-distribution (default 0.95)")
        parser.add_argument("--alpha", type=float, help="random share of the bank kept (default 1)")
        parser.add_argument("--index", choices=["exact", "ivf", "hnsw"], help="bank index (default exact)")
        parser.add_argument("--backend", choices=["auto", "faiss", "numpy", "bf16", "torch"],
                            help="exact search (default auto)")

    def cli_knobs(self, args: Any) -> dict[str, Any]:
        return {key: v for key in ("k", "ks", "tpr", "alpha", "index", "backend")
                if (v := getattr(args, key)) is not None}

    def check_arguments(self, args: Any) -> None:
        if args.config and (args.val or args.test or args.names):
            raise ConfigError("--val, --test and --names are for --bank feature files; a config's models are "
                              "embedded on data.train, data.dev and distribution.test")

    def compare_files(self, args: Any, knobs: dict[str, Any], out: Path, progress: bool = False) -> Any:
        return compare_feature_files(args.bank, args.val or (), args.test or (), args.names or (), knobs, out,
                                     progress)

    def preflight(self, cfg: StudyConfig, specs: list, note: Note) -> None:
        dcfg = cfg.distribution
        task = TASKS.get(cfg.representation.task)
        if dcfg.test is None:
            kind = "a SQuAD-format .json/.jsonl file" if task.name == "qa" else f"a dataset of the {task.name} task"
            raise ConfigError(f"characteristic 'distribution' needs an OOD test set: set distribution.test to {kind} "
                              "or hub id (the paper: newsqa), or leave 'distribution' out of characteristics")
        if task.name == "qa":
            note("data.train", load_qa_dataset(cfg.data.train, cfg.data.train_split, cfg.data.train_limit))
        note("distribution.test", task.read(cfg, dcfg.test, dcfg.test_split, dcfg.test_limit))
        n = len(bank_dataset(cfg, task))
        k = max([*dcfg.ks, dcfg.k])
        if k > n:
            raise ConfigError(f"distribution: K={k} needs at least {k} bank points and the study has {n}; "
                              f"lower distribution.ks and k, e.g. --set 'distribution.ks=[1,5,10]', or use "
                              "more training points")

    def gather(self, cfg: StudyConfig, progress: bool = False) -> Any:
        return model_features(cfg, progress)

    def finish(self, cfg: StudyConfig, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        return finish_distribution(cfg, gathered, out, progress)
