"""Representation similarity: linear CKA, CKA from the unbiased HSIC estimator and the mutual k-NN
share of every pair of models, on the representation characteristic's cached embeddings (before
and after fine-tuning); nothing is embedded twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from miniature import reportspec as rs
from miniature.agreement import pair_order
from miniature.characteristics.base import Characteristic, Note, rank, register
from miniature.characteristics.representation import PHASE_TITLES, model_embeddings
from miniature.cka import linear_cka, mutual_knn, unbiased_cka
from miniature.config import Section, StudyConfig
from miniature.exceptions import ConfigError
from miniature.knn import knn
from miniature.runs import meta_block, write_outputs
from miniature.tables import to_markdown, write_table
from miniature.taskdefs import TASKS

MEASURES = {"linear": "linear CKA", "unbiased": "CKA (unbiased HSIC)", "mutual_knn": "mutual k-NN"}


class CKAConfig(Section):
    """CKA: how similar every pair of models' representations are as a whole (Kornblith et al., 2019),
    on the embeddings of the `representation` section (its text, pooling, layer, phases and points)."""

    k: int = Field(10, gt=0)  # the mutual k-NN's k, cosine neighbours (Huh et al.: 10); default lowered to fit
    backend: Literal["auto", "faiss", "numpy"] = "auto"  # the mutual k-NN's neighbour search


@dataclass(frozen=True)
class CKAResult:
    """Every pair's CKA (linear and unbiased) and mutual k-NN share, per phase."""

    names: tuple[str, ...]
    phases: tuple[str, ...]
    k: int
    pairs: tuple[dict, ...]

    def columns(self) -> list[str]:
        return ["model_i", "model_j"] + [f"{p}_{m}" for p in self.phases for m in MEASURES] + ["n_points"]

    def markdown(self) -> str:
        return (f"Linear CKA, CKA with the unbiased HSIC estimator and the mutual {self.k}-NN share of every pair\n\n"
                + to_markdown(list(self.pairs), self.columns(), 4))

    def write(self, out_dir: str | Path, meta: dict) -> dict[str, Path]:
        """cka.md/.csv/.json and the report spec."""
        paths = write_table(out_dir, "cka", list(self.pairs), meta, self.columns(), digits=4, extra={"k": self.k})
        paths["report"] = report_spec(self.k, self.phases).write(out_dir)
        return paths


def compare_cka(phases: Mapping[str, Mapping[str, np.ndarray]], k: int = 10, backend: Any = "auto") -> CKAResult:
    """Linear CKA, unbiased CKA and mutual k-NN of every pair of models in every phase.

    Args:
        phases: phase -> model name -> (points x dims) embeddings of the same points (the large model first).
    """
    names = tuple(next(iter(phases.values())))
    rows: dict[tuple[str, str], dict[str, Any]] = {(i, j): {"model_i": i, "model_j": j} for i, j in pair_order(names)}
    for phase, embeddings in phases.items():
        neighbours = {n: knn(e, k, backend, name=f"{n} ({phase})") for n, e in embeddings.items()}
        for (i, j), row in rows.items():
            x, y = embeddings[i], embeddings[j]
            row[f"{phase}_linear"] = linear_cka(x, y)
            row[f"{phase}_unbiased"] = unbiased_cka(x, y)
            row[f"{phase}_mutual_knn"] = mutual_knn(neighbours[i], neighbours[j], k)
            row["n_points"] = len(x)
    return CKAResult(names, tuple(phases), k, tuple(rows.values()))


def report_spec(k: int, phases: tuple[str, ...]) -> rs.ReportSpec:
    """What the report shows: the table, and a heat map and an overview card per phase and CKA kind."""
    pairs = rs.Rows("cka")
    columns = ("model_i", "model_j", *(f"{p}_{m}" for p in phases for m in MEASURES), "n_points")
    return rs.ReportSpec(
        CKA.name, CKA.heading, CKA.description, rank=rank(CKA.name),
        files=(rs.ResultFile("cka", ("model_i", "model_j")),),
        models=(pairs,),
        blocks=(rs.Table(f"CKA and mutual {k}-NN of every pair of models (1: the same representation up to rotation "
                         "and scale; unbiased CKA is near 0 for unrelated ones)", pairs, columns,
                         shade=columns[2:-1]),),
        agreements=tuple(rs.Agreement(f"cka_{m}_{p}", f"{MEASURES[m]} {PHASE_TITLES[p]}",
                                      f"{MEASURES[m]} ({PHASE_TITLES[p]})", pairs, f"{p}_{m}", measure="CKA",
                                      lower=-0.1 if m == "unbiased" else 0.0,
                                      # the unbiased estimator is near 0 for independent representations:
                                      # chance-corrected as it is (the scorecard's value)
                                      corrected=f"{p}_{m}" if m == "unbiased" else None)
                         for p in phases for m in ("linear", "unbiased")))


@register
class CKA(Characteristic):
    """Representation similarity: linear CKA, unbiased CKA and mutual k-NN of every pair of models'
    embeddings, computed from the representation characteristic's cached embeddings."""

    name = "cka"
    config = CKAConfig
    heading = "Representation similarity (CKA)"
    title = "representation similarity: CKA and mutual k-NN of the (cached) embeddings"
    description = ("representation similarity: linear CKA, CKA with the unbiased HSIC estimator and the mutual "
                   "k-NN share of every pair of models' embeddings, before and after fine-tuning")
    sections = ("data", "qa", "representation", "cka")
    tasks = ("qa",)

    def task_names(self, cfg: StudyConfig) -> tuple[str, ...]:
        return (cfg.representation.task,)  # the representation's points and checkpoints

    def config_sections(self, cfg: StudyConfig) -> tuple[str, ...]:
        return ("representation", "cka", *TASKS.get(cfg.representation.task).sections)

    def preflight(self, cfg: StudyConfig, specs: list, note: Note) -> None:
        n = len(TASKS.get(cfg.representation.task).points(cfg, cfg.representation.limit))
        if n < 4:
            raise ConfigError(f"cka: CKA with the unbiased HSIC needs 4 points at least and the study has {n}; "
                              "use more points or leave cka out of `characteristics`")
        if cfg.cka.k >= n and "k" in cfg.cka.model_fields_set:  # the default k is lowered to fit (finish)
            raise ConfigError(f"cka: k={cfg.cka.k} needs more than {cfg.cka.k} dev points (a point is not its own "
                              f"neighbour) and the study has {n}; lower it, e.g. --set cka.k=5")

    def gather(self, cfg: StudyConfig, progress: bool = False) -> Any:
        return model_embeddings(cfg, progress)

    def finish(self, cfg: StudyConfig, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        phases, dev = gathered
        result = compare_cka(phases, min(cfg.cka.k, len(dev) - 1), cfg.cka.backend)
        if out is not None:
            meta = meta_block(models=[m.model_dump() for m in cfg.models], dev=dev.source,
                              dev_fingerprint=dev.fingerprint, representation=cfg.representation.model_dump(),
                              cka=cfg.cka.model_dump(), run_dir=str(cfg.run_dir))
            write_outputs(out, lambda d: result.write(d, meta), "cka")
        return result
