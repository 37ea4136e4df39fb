"""Assemble the study's tables from a run's results: Table 2, Table 3, per-model rows, agreement matrices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from miniature.agreement import pair_order
from miniature.report.collect import RunResults, characteristic_models, model_order

TABLE2_COLUMNS = ["model_i", "model_j", "prediction_errors", "representation_before_mean",
                  "representation_before_variance", "representation_after_mean",
                  "representation_after_variance", "distribution"]
TABLE3_COLUMNS = ["attack_model", "target_model", "original_accuracy", "after_attack_accuracy",
                  "absolute_change", "percent_change"]
# Table 2 corrected for chance: each agreement as (J - chance) / (1 - chance) (variances have none)
TABLE2_CORRECTED_COLUMNS = ["model_i", "model_j", "prediction_errors", "representation_before",
                            "representation_after", "distribution"]
MODEL_COLUMNS = ["model", "exact", "f1", "ood_auroc", "share_flagged", "original_accuracy",
                 "after_attack_accuracy"]

# agreement matrix name -> (characteristic, file stem, value column), in report order
AGREEMENTS: dict[str, tuple[str, str, str]] = {
    "errors": ("errors", "errors", "jaccard"),
    "representation_before": ("representation", "representation", "before_mean"),
    "representation_after": ("representation", "representation", "after_mean"),
    "distribution": ("distribution", "distribution", "jaccard"),
    "adversarial": ("adversarial", "adversarial_agreement", "jaccard"),
}
# agreement matrix name -> the column of its chance-corrected value, in the same rows
CORRECTED = {"errors": "corrected_jaccard", "representation_before": "before_corrected",
             "representation_after": "after_corrected", "distribution": "corrected_jaccard",
             "adversarial": "corrected_jaccard"}
AGREEMENT_TITLES = {
    "errors": "Prediction errors: Jaccard of error sets",
    "representation_before": "Representation before fine-tuning: mean K-NN Jaccard",
    "representation_after": "Representation after fine-tuning: mean K-NN Jaccard",
    "distribution": "Data distribution: Jaccard of OOD sets",
    "adversarial": "Adversarial: Jaccard of successfully attacked sets",
}


@dataclass(frozen=True)
class Agreement:
    """An n x n agreement matrix: models in table order, the diagonal 1.0, None where a pair is unknown."""

    name: str
    models: tuple[str, ...]
    matrix: tuple[tuple[float | None, ...], ...]

    def to_json(self) -> dict:
        return {"models": list(self.models), "matrix": [list(r) for r in self.matrix]}


def pair_values(rows: Sequence[dict], column: str) -> dict[frozenset[str], Any]:
    """{model_i, model_j} -> the row's value in `column` (agreement is symmetric, so the order is dropped)."""
    return {frozenset((r["model_i"], r["model_j"])): r.get(column) for r in rows if column in r}


def table2_rows(res: RunResults, models: Sequence[str] | None = None) -> list[dict]:
    """The paper's Table 2: one row per pair of models (paper order); None where a characteristic is absent.

    Representation columns are the K = table K slice its file holds; pairs no characteristic
    compared are left out.
    """
    models = list(models if models is not None else model_order(res))
    sources = {
        "prediction_errors": pair_values(res.rows("errors", "errors"), "jaccard"),
        "distribution": pair_values(res.rows("distribution", "distribution"), "jaccard"),
    }
    rep = res.rows("representation", "representation")
    for phase in ("before", "after"):
        for stat in ("mean", "variance"):
            sources[f"representation_{phase}_{stat}"] = pair_values(rep, f"{phase}_{stat}")
    return _pair_table(models, sources, TABLE2_COLUMNS)


def table2_corrected_rows(res: RunResults, models: Sequence[str] | None = None) -> list[dict]:
    """Table 2's agreements corrected for chance, (J - chance) / (1 - chance), in its layout: 0 where
    two models agree as much as sets (or neighbourhoods) of their sizes drawn at random would."""
    models = list(models if models is not None else model_order(res))
    rep = res.rows("representation", "representation")
    sources = {"prediction_errors": pair_values(res.rows("errors", "errors"), "corrected_jaccard"),
               "representation_before": pair_values(rep, "before_corrected"),
               "representation_after": pair_values(rep, "after_corrected"),
               "distribution": pair_values(res.rows("distribution", "distribution"), "corrected_jaccard")}
    return _pair_table(models, sources, TABLE2_CORRECTED_COLUMNS)


def _pair_table(models: Sequence[str], sources: dict[str, dict[frozenset[str], Any]],
                columns: Sequence[str]) -> list[dict]:
    """One row per pair (paper order) with each column's value; pairs with no value left out."""
    out = []
    for i, j in pair_order(models):
        key = frozenset((i, j))
        row: dict[str, Any] = {"model_i": i, "model_j": j}
        row.update({c: sources[c].get(key) for c in columns[2:]})
        if any(row[c] is not None for c in columns[2:]):
            out.append(row)
    return out


def table3_rows(res: RunResults) -> list[dict]:
    """The paper's Table 3, as the adversarial characteristic wrote it."""
    return [{c: r.get(c) for c in TABLE3_COLUMNS} for r in res.rows("adversarial", "adversarial")]


def table_k(res: RunResults, characteristic: str) -> int | None:
    """The K of a characteristic's pairwise table, as its files record it."""
    for t in res.tables.get(characteristic, {}).values():
        k = t.extra.get("k")
        if isinstance(k, int) and not isinstance(k, bool):
            return k
    return None


def model_rows(res: RunResults, models: Sequence[str] | None = None) -> list[dict]:
    """Per-model figures: SQuAD EM/F1, the OOD detector at the table K, accuracy before/after attack."""
    models = list(models if models is not None else model_order(res))
    scores = {r["model"]: r for r in res.rows("errors", "scores")}
    k = table_k(res, "distribution")
    detectors = {r["model"]: r for r in res.rows("distribution", "distribution_detectors") if r.get("k") == k}
    attacks = {r["target_model"]: r for r in res.rows("adversarial", "adversarial")}
    out = []
    for m in models:
        s, d, a = scores.get(m, {}), detectors.get(m, {}), attacks.get(m, {})
        out.append({"model": m, "exact": s.get("exact"), "f1": s.get("f1"), "ood_auroc": d.get("auroc"),
                    "share_flagged": d.get("share_flagged"), "original_accuracy": a.get("original_accuracy"),
                    "after_attack_accuracy": a.get("after_attack_accuracy")})
    return out


def agreement_matrix(res: RunResults, name: str, models: Sequence[str] | None = None) -> Agreement | None:
    """One characteristic's n x n matrix over the models it compared (in study order), or None if absent."""
    char, stem, column = AGREEMENTS[name]
    rows = res.rows(char, stem)
    values = pair_values(rows, column)
    if not any(v is not None for v in values.values()):
        return None
    order = list(models if models is not None else model_order(res))
    own = set(characteristic_models(res, char)) & {n for p in values for n in p}
    names = tuple(n for n in order if n in own)
    matrix = tuple(tuple(1.0 if a == b else values.get(frozenset((a, b))) for b in names) for a in names)
    return Agreement(name, names, matrix)


def corrected_with(res: RunResults, reference: str) -> dict[str, list[float]]:
    """Per agreement matrix, the chance-corrected values of the pairs with `reference` (where the
    run's files carry them)."""
    out: dict[str, list[float]] = {}
    for name, (char, stem, _) in AGREEMENTS.items():
        values = [v for r in res.rows(char, stem) if reference in (r.get("model_i"), r.get("model_j"))
                  and isinstance(v := r.get(CORRECTED[name]), (int, float))]
        if values:
            out[name] = values
    return out


def agreements(res: RunResults, models: Sequence[str] | None = None) -> dict[str, Agreement]:
    """Every agreement matrix the run's results allow, in report order."""
    out = {}
    for name in AGREEMENTS:
        m = agreement_matrix(res, name, models)
        if m is not None:
            out[name] = m
    return out


def sweep_panels(res: RunResults) -> dict[str, list[dict]]:
    """Figure 1's panels: representation before and after fine-tuning, distribution; absent ones left out."""
    panels: dict[str, list[dict]] = {}
    rep = res.rows("representation", "representation_sweep")
    for phase, title in (("before", "Representation before fine-tuning"),
                         ("after", "Representation after fine-tuning")):
        rows = [r for r in rep if r.get("phase") == phase]
        if rows:
            panels[title] = rows
    dist = list(res.rows("distribution", "distribution_sweep"))
    if dist:
        panels["Data distribution (OOD sets)"] = dist
    return panels
