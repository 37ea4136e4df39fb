"""Build the study report of a run folder from its result files alone: tables, figures, report.md/.html."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniature.report.assemble import (
    MINIATURE_AT,
    SCORE_COLUMNS,
    Agreement,
    agreements,
    bar_figures,
    exports,
    model_columns,
    model_rows,
    scorecard,
    sweep_panels,
    table2_columns,
    table2_rows,
    verdict_lines,
)
from miniature.report.collect import RunResults, clean, collect, model_order
from miniature.report.content import compose, figure_captions, figure_name
from miniature.report.render import to_html, to_md
from miniature.reportspec import Figure as FigureSpec
from miniature.reportspec import Panel
from miniature.runs import atomic_write_json, atomic_write_text, meta_block, write_outputs
from miniature.tables import CARD_COLUMNS, write_table


@dataclass(frozen=True)
class Report:
    """What `build_report` wrote and the tables behind it, as pandas DataFrames.

    `paths` keys: "html", "md", "results", "<table>_<md|csv|json>" for table2, table2_corrected
    (Table 2 corrected for chance, where the results carry chance levels), table3, per_model and
    table1, and each figure's file stem ("figure1", "heatmap_errors", "models_attack", ...).

    `agreement` maps a characteristic ("errors", "representation_before", ...) to its n x n
    matrix, indexed and columned by model.
    """

    paths: dict[str, Path]
    table2: Any  # pandas.DataFrame
    table3: Any
    models: Any
    agreement: dict[str, Any]


def study_meta(res: RunResults) -> dict:
    """study.json's meta block if the run wrote one, else a fresh one (package, version, commit, time)."""
    meta = (res.study or {}).get("meta")
    return dict(meta) if isinstance(meta, dict) and meta else meta_block()


def _has(rows: Sequence[dict], *columns: str) -> bool:
    return any(r.get(c) is not None for r in rows for c in columns)


def sweep_reference(models: Sequence[str], panels: Mapping[str, tuple[Panel, list[dict]]]) -> str:
    """Figure 1's reference: the first model (the large one) that the K sweeps compared."""
    named = {n for _, rows in panels.values() for r in rows for n in (r["model_i"], r["model_j"])}
    return next((m for m in models if m in named), models[0])


def write_figures(out: Path, res: RunResults, models: Sequence[str], per_model: Sequence[dict],
                  matrices: Mapping[str, Agreement], panels: Mapping[str, tuple[Panel, list[dict]]]) -> dict[str, Path]:
    """figure1.png, a heat map per agreement, the per-model bars the results allow and the figures
    characteristics drew in their folders; returns name -> path."""
    import shutil

    from miniature.plots import plot_bars, plot_figure1, plot_heatmap

    paths: dict[str, Path] = {}
    if panels:
        paths["figure1.png"] = plot_figure1(out / "figure1.png", {t: rows for t, (_, rows) in panels.items()},
                                            sweep_reference(models, panels),
                                            {t: p.ylabel for t, (p, _) in panels.items()})
    for name, agr in matrices.items():
        paths[f"heatmap_{name}.png"] = plot_heatmap(out / f"heatmap_{name}.png", agr.models, agr.matrix,
                                                    agr.spec.title, label=agr.spec.measure, lower=agr.spec.lower)
    for _, b in bar_figures(res):
        rows = [r for r in per_model if _has([r], *b.series)]
        if rows:
            paths[b.name] = plot_bars(out / b.name, [r["model"] for r in rows],
                                      {label: [r[c] for r in rows] for c, label in b.series.items()},
                                      b.title, b.ylabel, b.ylim, b.digits, b.reference)
    for c in res.present:
        for block in res.specs[c].blocks:
            if isinstance(block, FigureSpec) and (res.root / c / block.name).is_file():
                target = out / figure_name(c, block.name)
                shutil.copyfile(res.root / c / block.name, target)
                paths[target.name] = target
    return paths


def _frame(matrix: Agreement) -> Any:
    import pandas as pd

    return pd.DataFrame([list(r) for r in matrix.matrix], index=list(matrix.models), columns=list(matrix.models),
                        dtype=float)


def model_card(root: Path) -> list[dict]:
    """Table 1 rows, if the run measured its models (RUN_DIR/models/model_card.json)."""
    from miniature.report.collect import parse_table
    from miniature.runs import read_json_file

    path = root / "models" / "model_card.json"
    if not path.is_file():
        return []
    return list(parse_table(path, read_json_file(path), ("model",), ("latency_ms",)).rows)


def build_report(run_dir: str | Path) -> Report:
    """The study report of a run folder, from the characteristic results it holds (no model is loaded).

    Writes, at the top of `run_dir`: report.html (one self-contained page), report.md, results.json,
    table2 (and table2_corrected), per_model, table1 and each exported table (table3) as
    .md/.csv/.json, figure1.png, heatmap_<agreement>.png and the per-model bar figures. What each
    characteristic contributes comes from its report spec (RUN_DIR/<characteristic>/report.json);
    characteristics the run lacks are left out (and the report says so).

    Raises:
        DataError: `run_dir` holds no characteristic results, or a result file is malformed.
    """
    import pandas as pd

    res = collect(run_dir)
    out = res.root
    models = model_order(res)
    t2, t2c = table2_rows(res, models), table2_rows(res, models, corrected=True)
    t2_cols, t2c_cols = table2_columns(res), table2_columns(res, corrected=True)
    per_model, per_model_cols = model_rows(res, models), model_columns(res)
    exported = exports(res)
    t1 = model_card(res.root)
    matrices = agreements(res, models)
    scores = scorecard(res, models)
    panels = sweep_panels(res)
    meta = study_meta(res)

    def write(stage: Path) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        tables = [("table2", t2, t2_cols), ("table2_corrected", t2c, t2c_cols)]
        tables += [(stem, rows, cols) for stem, (cols, rows) in exported.items()]
        tables += [("per_model", per_model, per_model_cols), ("table1", t1, CARD_COLUMNS),
                   ("scorecard", scores, SCORE_COLUMNS)]
        for stem, rows, cols in tables:
            if stem in ("table1", "table2_corrected", "scorecard") and not rows:
                continue
            for kind, p in write_table(stage, stem, clean(rows), meta, cols, digits=4).items():
                paths[f"{stem}_{kind}"] = p
        figures = write_figures(stage, res, models, per_model, matrices, panels)
        if scores:
            from miniature.plots import plot_scorecard

            figures["scorecard.png"] = plot_scorecard(stage / "scorecard.png", scores, MINIATURE_AT)
        paths.update({name.removesuffix(".png"): p for name, p in figures.items()})
        captions = figure_captions(res, sweep_reference(models, panels), list(panels), matrices)
        doc = compose(res, models, t2, per_model, per_model_cols, matrices, {n: captions[n] for n in figures}, meta,
                      t1, t2c, scores)
        footer = f"miniature {meta.get('version', '')} · built from {res.root} · {meta.get('time', '')}"
        images = {name: p.read_bytes() for name, p in figures.items()}
        paths["results"] = atomic_write_json(stage / "results.json", clean({
            "meta": meta, "characteristics": list(res.present), "verdicts": verdict_lines(scores),
            "scorecard": scores, "table1": t1, "table2": t2,
            "table2_corrected": t2c, **{stem: rows for stem, (_, rows) in exported.items()},
            "models": per_model,
            "agreement": {name: m.to_json() for name, m in matrices.items()}}))
        paths["md"] = atomic_write_text(stage / "report.md", to_md(doc, footer))
        paths["html"] = atomic_write_text(stage / "report.html", to_html(doc, images, footer))
        return paths

    # all files or none (a failure midway leaves the last report whole); the figures and tables
    # this run's results no longer allow are removed by the manifest
    paths = write_outputs(out, write, "report")
    t3_cols, t3 = exported.get("table3", ([], []))
    return Report(paths, pd.DataFrame(t2, columns=t2_cols), pd.DataFrame(t3, columns=t3_cols),
                  pd.DataFrame(per_model, columns=per_model_cols), {n: _frame(m) for n, m in matrices.items()})
