"""Build the study report of a run folder from its result files alone: tables, figures, report.md/.html."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniature.report.assemble import (
    AGREEMENT_TITLES,
    MODEL_COLUMNS,
    TABLE2_COLUMNS,
    TABLE2_CORRECTED_COLUMNS,
    TABLE3_COLUMNS,
    Agreement,
    agreements,
    model_rows,
    sweep_panels,
    table2_corrected_rows,
    table2_rows,
    table3_rows,
)
from miniature.report.collect import RunResults, clean, collect, model_order
from miniature.report.content import compose, figure_captions
from miniature.report.render import to_html, to_md
from miniature.runs import atomic_write_json, atomic_write_text, meta_block, write_outputs
from miniature.tables import CARD_COLUMNS, write_table

YLABELS = {"Representation before fine-tuning": "mean Jaccard of K-NN sets",
           "Representation after fine-tuning": "mean Jaccard of K-NN sets",
           "Data distribution (OOD sets)": "Jaccard of OOD sets"}


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


def sweep_reference(models: Sequence[str], panels: Mapping[str, list[dict]]) -> str:
    """Figure 1's reference: the first model (the large one) that the K sweeps compared."""
    named = {n for rows in panels.values() for r in rows for n in (r["model_i"], r["model_j"])}
    return next((m for m in models if m in named), models[0])


def write_figures(out: Path, models: Sequence[str], per_model: Sequence[dict], matrices: Mapping[str, Agreement],
                  panels: Mapping[str, list[dict]]) -> dict[str, Path]:
    """figure1.png, a heat map per agreement and the per-model bars the results allow; returns name -> path."""
    from miniature.plots import plot_bars, plot_figure1, plot_heatmap

    paths: dict[str, Path] = {}
    if panels:
        paths["figure1.png"] = plot_figure1(out / "figure1.png", panels, sweep_reference(models, panels), YLABELS)
    for name, agr in matrices.items():
        paths[f"heatmap_{name}.png"] = plot_heatmap(out / f"heatmap_{name}.png", agr.models, agr.matrix,
                                                    AGREEMENT_TITLES[name])

    def bars(file: str, series: dict[str, str], title: str, ylabel: str, ylim: tuple[float, float],
             digits: int, reference: tuple[float, str] | None = None) -> None:
        rows = [r for r in per_model if _has([r], *series)]
        if rows:
            paths[file] = plot_bars(out / file, [r["model"] for r in rows],
                                    {label: [r[c] for r in rows] for c, label in series.items()},
                                    title, ylabel, ylim, digits, reference)

    bars("models_scores.png", {"exact": "exact match", "f1": "F1"}, "SQuAD 2.0 scores", "score (%)", (0, 105), 1)
    bars("models_ood_auroc.png", {"ood_auroc": "AUROC"}, "OOD detection (Deep kNN)", "AUROC", (0, 1.05), 3,
         (0.5, "chance"))
    bars("models_attack.png", {"original_accuracy": "before attack", "after_attack_accuracy": "after attack"},
         "Accuracy under BERT-Attack", "accuracy", (0, 1.05), 3)
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
    table2/table3/per_model .md/.csv/.json, figure1.png, heatmap_<characteristic>.png and the
    per-model bar figures. Characteristics the run lacks are left out (and the report says so).

    Raises:
        DataError: `run_dir` holds no characteristic results, or a result file is malformed.
    """
    import pandas as pd

    res = collect(run_dir)
    out = res.root
    models = model_order(res)
    t2, t3, per_model = table2_rows(res, models), table3_rows(res), model_rows(res, models)
    t2c = table2_corrected_rows(res, models)
    t1 = model_card(res.root)
    matrices = agreements(res, models)
    panels = sweep_panels(res)
    meta = study_meta(res)

    def write(stage: Path) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for stem, rows, cols in (("table2", t2, TABLE2_COLUMNS), ("table2_corrected", t2c, TABLE2_CORRECTED_COLUMNS),
                                 ("table3", t3, TABLE3_COLUMNS), ("per_model", per_model, MODEL_COLUMNS),
                                 ("table1", t1, CARD_COLUMNS)):
            if stem in ("table1", "table2_corrected") and not rows:
                continue
            for kind, p in write_table(stage, stem, clean(rows), meta, cols, digits=4).items():
                paths[f"{stem}_{kind}"] = p
        figures = write_figures(stage, models, per_model, matrices, panels)
        paths.update({name.removesuffix(".png"): p for name, p in figures.items()})
        captions = figure_captions(sweep_reference(models, panels), list(panels), matrices)
        doc = compose(res, models, t2, t3, per_model, matrices, {n: captions[n] for n in figures}, meta, t1, t2c)
        footer = f"miniature {meta.get('version', '')} · built from {res.root} · {meta.get('time', '')}"
        images = {name: p.read_bytes() for name, p in figures.items()}
        paths["results"] = atomic_write_json(stage / "results.json", clean({
            "meta": meta, "characteristics": list(res.present), "table1": t1, "table2": t2,
            "table2_corrected": t2c, "table3": t3,
            "models": per_model,
            "agreement": {name: m.to_json() for name, m in matrices.items()}}))
        paths["md"] = atomic_write_text(stage / "report.md", to_md(doc, footer))
        paths["html"] = atomic_write_text(stage / "report.html", to_html(doc, images, footer))
        return paths

    # all files or none (a failure midway leaves the last report whole); the figures and tables
    # this run's results no longer allow are removed by the manifest
    paths = write_outputs(out, write, "report")
    return Report(paths, pd.DataFrame(t2, columns=TABLE2_COLUMNS), pd.DataFrame(t3, columns=TABLE3_COLUMNS),
                  pd.DataFrame(per_model, columns=MODEL_COLUMNS), {n: _frame(m) for n, m in matrices.items()})
