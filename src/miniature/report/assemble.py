"""Assemble the study's tables from a run's results, as each characteristic's report spec says:
Table 2 (and corrected for chance), the exported tables (Table 3), per-model rows, agreement
matrices, Figure 1's panels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from miniature.agreement import pair_order
from miniature.report.collect import RunResults, characteristic_models, model_order
from miniature.reportspec import Agreement as AgreementSpec
from miniature.reportspec import Bars, PairColumn, Panel

PAIR_KEYS = ["model_i", "model_j"]


@dataclass(frozen=True)
class Agreement:
    """An n x n agreement matrix: models in table order, the diagonal 1.0, None where a pair is unknown."""

    name: str
    models: tuple[str, ...]
    matrix: tuple[tuple[float | None, ...], ...]
    spec: AgreementSpec

    def to_json(self) -> dict:
        return {"models": list(self.models), "matrix": [list(r) for r in self.matrix]}


def pair_values(rows: Sequence[dict], column: str) -> dict[frozenset[str], Any]:
    """{model_i, model_j} -> the row's value in `column` (agreement is symmetric, so the order is dropped)."""
    return {frozenset((r["model_i"], r["model_j"])): r.get(column) for r in rows if column in r}


def _pair_columns(res: RunResults, part: str) -> list[tuple[str, PairColumn]]:
    return [(c, col) for c in res.present for col in getattr(res.specs[c], part)]


def table2_columns(res: RunResults, corrected: bool = False) -> list[str]:
    """Table 2's columns (or those of Table 2 corrected for chance): the pair, then each
    characteristic's, in report order."""
    return PAIR_KEYS + [col.column for _, col in _pair_columns(res, "table2_corrected" if corrected else "table2")]


def table2_rows(res: RunResults, models: Sequence[str] | None = None, corrected: bool = False) -> list[dict]:
    """The paper's Table 2: one row per pair of models (paper order), a column per agreement the
    characteristics contribute; None where one did not compare the pair; pairs none compared left out.
    `corrected`: each agreement as (J - chance) / (1 - chance) instead."""
    models = list(models if models is not None else model_order(res))
    sources = {col.column: pair_values(res.rows(c, col.rows), col.value)
               for c, col in _pair_columns(res, "table2_corrected" if corrected else "table2")}
    out = []
    for i, j in pair_order(models):
        key = frozenset((i, j))
        row: dict[str, Any] = {"model_i": i, "model_j": j}
        row.update({c: values.get(key) for c, values in sources.items()})
        if any(v is not None for c, v in row.items() if c not in PAIR_KEYS):
            out.append(row)
    return out


def exports(res: RunResults) -> dict[str, tuple[list[str], list[dict]]]:
    """The tables characteristics export to the top of the run folder (Table 3): stem -> (columns, rows)."""
    out = {}
    for c in res.present:
        for e in res.specs[c].exports:
            out[e.stem] = (list(e.columns), [{col: r.get(col) for col in e.columns} for r in res.rows(c, e.rows)])
    return out


def model_columns(res: RunResults) -> list[str]:
    """The per-model table's columns: the model, then each characteristic's, in report order."""
    return ["model"] + [col for c in res.present for m in res.specs[c].per_model for col in m.columns]


def model_rows(res: RunResults, models: Sequence[str] | None = None) -> list[dict]:
    """Per-model figures (SQuAD EM/F1, the OOD detector at the table K, accuracy before/after
    attack, ...): one row per model, the columns every characteristic's spec names."""
    models = list(models if models is not None else model_order(res))
    parts = [(m, {r[m.key]: r for r in res.rows(c, m.rows) if isinstance(r.get(m.key), str)})
             for c in res.present for m in res.specs[c].per_model]
    out = []
    for name in models:
        row: dict[str, Any] = {"model": name}
        for spec, by_model in parts:
            found = by_model.get(name, {})
            row.update({col: found.get(source) for col, source in spec.columns.items()})
        out.append(row)
    return out


def agreement_matrix(res: RunResults, characteristic: str, spec: AgreementSpec,
                     models: Sequence[str] | None = None) -> Agreement | None:
    """One agreement's n x n matrix over the models its characteristic compared (in study order), or None if absent."""
    values = pair_values(res.rows(characteristic, spec.rows), spec.column)
    if not any(v is not None for v in values.values()):
        return None
    order = list(models if models is not None else model_order(res))
    own = set(characteristic_models(res, characteristic)) & {n for p in values for n in p}
    names = tuple(n for n in order if n in own)
    matrix = tuple(tuple(1.0 if a == b else values.get(frozenset((a, b))) for b in names) for a in names)
    return Agreement(spec.name, names, matrix, spec)


def agreements(res: RunResults, models: Sequence[str] | None = None) -> dict[str, Agreement]:
    """Every agreement matrix the run's results allow, in report order."""
    out = {}
    for c in res.present:
        for spec in res.specs[c].agreements:
            m = agreement_matrix(res, c, spec, models)
            if m is not None:
                out[spec.name] = m
    return out


def corrected_with(res: RunResults, reference: str) -> dict[str, list[float]]:
    """Per agreement, the chance-corrected values of the pairs with `reference` (where the run's
    files carry them)."""
    out: dict[str, list[float]] = {}
    for c in res.present:
        for spec in res.specs[c].agreements:
            if spec.corrected is None:
                continue
            values = [v for r in res.rows(c, spec.rows) if reference in (r.get("model_i"), r.get("model_j"))
                      and isinstance(v := r.get(spec.corrected), (int, float))]
            if values:
                out[spec.name] = values
    return out


def sweep_panels(res: RunResults) -> dict[str, tuple[Panel, list[dict]]]:
    """Figure 1's panels (title -> spec, rows), in report order; those without rows left out."""
    panels: dict[str, tuple[Panel, list[dict]]] = {}
    for c in res.present:
        for p in res.specs[c].panels:
            rows = list(res.rows(c, p.rows))
            if rows:
                panels[p.title] = (p, rows)
    return panels


def bar_figures(res: RunResults) -> list[tuple[str, Bars]]:
    """The per-model bar figures: (characteristic, spec), in report order."""
    return [(c, b) for c in res.present for b in res.specs[c].bars]


# ---- the scorecard: a verdict per compressed model

MINIATURE_AT = 0.6  # the chance-corrected agreement a miniature reaches (kappa's "substantial", Landis & Koch)
SCORE_COLUMNS = ["model", "reference", "agreement", "title", "corrected", "ci_low", "ci_high", "verdict"]
VERDICT_RULE = (
    f"The verdict rule: a compressed model behaves as a miniature of the reference on a characteristic when its "
    f"chance-corrected agreement with the reference (0 at chance, 1 identical) is at least {MINIATURE_AT} over its "
    f"whole 95% interval; it is a different model there when the interval lies below {MINIATURE_AT}; undecided when "
    f"the interval straddles {MINIATURE_AT} (values without an interval are judged by themselves). "
    f"{MINIATURE_AT} is the lower end of 'substantial' agreement on Landis and Koch's scale for kappa.")


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def corrected_interval(row: dict, spec: AgreementSpec) -> tuple[float | None, float | None]:
    """The 95% interval of a pair's chance-corrected value, from the interval of its value (ends or
    half width) mapped through (x - chance) / (1 - chance); (None, None) where the files hold none."""
    if spec.low and spec.high:
        lo, hi = _number(row.get(spec.low)), _number(row.get(spec.high))
    elif spec.half_width:
        v, h = _number(row.get(spec.column)), _number(row.get(spec.half_width))
        lo, hi = (v - h, v + h) if v is not None and h is not None else (None, None)
    else:
        return None, None
    if lo is None or hi is None:
        return None, None
    if spec.chance is None:
        return (lo, hi) if spec.corrected == spec.column else (None, None)
    chance = _number(row.get(spec.chance))
    if chance is None or chance >= 1:
        return None, None
    return (lo - chance) / (1 - chance), (hi - chance) / (1 - chance)


def verdict(value: float, low: float | None, high: float | None) -> str:
    """`miniature`, `different` or `undecided` by the rule (VERDICT_RULE)."""
    if (low if low is not None else value) >= MINIATURE_AT:
        return "miniature"
    if (high if high is not None else value) < MINIATURE_AT:
        return "different"
    return "undecided"


def scorecard(res: RunResults, models: Sequence[str] | None = None) -> list[dict]:
    """One row per compressed model and chance-corrected agreement (each characteristic's, in
    report order): its value against the first model, the value's 95% interval and its verdict."""
    models = list(models if models is not None else model_order(res))
    reference, out = models[0], []
    for model in models[1:]:
        pair = {reference, model}
        for c in res.present:
            for spec in res.specs[c].agreements:
                if spec.corrected is None:
                    continue
                row = next((r for r in res.rows(c, spec.rows) if {r.get("model_i"), r.get("model_j")} == pair), None)
                value = _number(row.get(spec.corrected)) if row else None
                if row is None or value is None:
                    continue
                lo, hi = corrected_interval(row, spec)
                out.append({"model": model, "reference": reference, "agreement": spec.name, "title": spec.short,
                            "corrected": value, "ci_low": lo, "ci_high": hi, "verdict": verdict(value, lo, hi)})
    return out


def verdict_lines(scores: Sequence[dict]) -> list[dict]:
    """Per compressed model: how many characteristics call it a miniature, and the line that says so."""
    out = []
    for model in dict.fromkeys(s["model"] for s in scores):
        mine = [s for s in scores if s["model"] == model]
        count = {v: sum(s["verdict"] == v for s in mine) for v in ("miniature", "different", "undecided")}
        rest = ", ".join(f"{v} on {n}" for v, n in count.items() if v != "miniature" and n)
        line = (f"a miniature of {mine[0]['reference']} on {count['miniature']} of {len(mine)} characteristics"
                + (f" ({rest})" if rest else ""))
        short = f"{count['miniature']}/{len(mine)} miniature" + "".join(
            f", {n} {v}" for v, n in count.items() if v != "miniature" and n)
        out.append({"model": model, **count, "of": len(mine), "verdict": line, "short": short})
    return out
