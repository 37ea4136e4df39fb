"""What the study report says: its sections, tables and figures, composed from a run's results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from miniature.report.assemble import (
    AGREEMENT_TITLES,
    MODEL_COLUMNS,
    TABLE2_COLUMNS,
    TABLE2_CORRECTED_COLUMNS,
    TABLE3_COLUMNS,
    Agreement,
    corrected_with,
    table_k,
)
from miniature.report.collect import RunResults, study_models
from miniature.report.document import (
    Block,
    Document,
    Figure,
    KeyValues,
    Paragraph,
    Section,
    describe,
    dict_items,
    model_records,
    reference_cards,
    table,
)
from miniature.tables import CARD_COLUMNS

TITLES = {"errors": "Prediction errors", "representation": "Data representation",
          "distribution": "Data distribution", "adversarial": "Adversarial vulnerability"}
SHORT = {"errors": "Prediction errors", "representation_before": "Representation (before fine-tuning)",
         "representation_after": "Representation (after fine-tuning)", "distribution": "Data distribution",
         "adversarial": "Adversarial: attacked examples"}


def lead(models: Sequence[str], present: Sequence[str]) -> str:
    large, small = models[0], list(models[1:])
    compared = ", ".join(TITLES[c].lower() for c in present)
    return (f"Does a compressed model behave like a miniature version of the large one? This report compares "
            f"{large} with {len(small)} compressed model(s) ({', '.join(small) or 'none'}) on {compared}. "
            "Each characteristic is an agreement between two models, a Jaccard coefficient: 1 when they behave "
            "alike on every point, 0 when they share nothing. Were the compressed models miniatures of "
            f"{large}, their agreement with it would be close to 1. Set sizes alone give some agreement (two "
            "models each wrong on half the questions share a third of their errors by chance), so the tables "
            "below also give each Jaccard's chance level, for sets of the same sizes drawn at random, and the "
            "chance-corrected Jaccard: 0 at chance, 1 when identical; and a 95% interval of each Jaccard over "
            "the points compared.")


def present(rows: Sequence[dict], columns: Sequence[str]) -> list[str]:
    """The columns some row holds (a run folder written before a column existed lacks it)."""
    return [c for c in columns if any(r.get(c) is not None for r in rows)]


def _figure(figures: Mapping[str, str], name: str, wide: bool = False) -> list[Block]:
    return [Figure(name, figures[name], wide)] if name in figures else []


def _heatmaps(figures: Mapping[str, str], names: Sequence[str]) -> list[Block]:
    return [b for n in names for b in _figure(figures, f"heatmap_{n}.png")]


def errors_section(res: RunResults, figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Paragraph(describe(res.study, "errors"))]
    t = res.table("errors", "errors")
    if t:
        blocks.append(table("Agreement of error sets", t.rows, present(t.rows, [
            "model_i", "model_j", "jaccard", "jaccard_ci_low", "jaccard_ci_high", "chance_jaccard", "corrected_jaccard",
            "size_i", "size_j", "intersection", "relation"]), shade=["jaccard"]))
        sets = [s for s in t.extra.get("sets") or [] if isinstance(s, dict)]
        if sets:
            blocks.append(table("Error sets", sets, ["name", "errors", "n_questions"]))
    scores = res.rows("errors", "scores")
    if scores:
        cols = [c for c in ("model", "exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "total")
                if any(c in r for r in scores)]
        blocks.append(table("SQuAD 2.0 scores (official script: exact match and F1, %)", scores, cols, digits=2))
    return blocks + _heatmaps(figures, ["errors"]) + _figure(figures, "models_scores.png")


def representation_section(res: RunResults, figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Paragraph(describe(res.study, "representation"))]
    t = res.table("representation", "representation")
    if t:
        cols = present(t.rows, ["model_i", "model_j", "before_mean", "before_variance", "after_mean", "after_variance",
                                "before_ci95", "after_ci95", "chance", "before_corrected", "after_corrected"])
        blocks.append(table(f"Mean and variance over points of the K-NN Jaccard, K = {table_k(res, 'representation')}",
                            t.rows, cols, shade=["before_mean", "after_mean"]))
    return blocks + _heatmaps(figures, ["representation_before", "representation_after"])


def distribution_section(res: RunResults, figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Paragraph(describe(res.study, "distribution"))]
    k = table_k(res, "distribution")
    t = res.table("distribution", "distribution")
    if t:
        tpr = t.extra.get("tpr")
        rule = f", threshold keeping {tpr:.0%} of in-distribution points" if isinstance(tpr, float) else ""
        blocks.append(table(f"Agreement of OOD sets (Deep kNN, K = {k}{rule})", t.rows,
                            present(t.rows, ["model_i", "model_j", "jaccard", "jaccard_ci_low", "jaccard_ci_high",
                                             "chance_jaccard", "corrected_jaccard", "flagged_i", "flagged_j",
                                             "intersection", "union"]),
                            shade=["jaccard"]))
    det = [r for r in res.rows("distribution", "distribution_detectors") if r.get("k") == k]
    if det:
        blocks.append(table(f"Detectors at K = {k} (OOD is the positive class)", det,
                            ["model", "threshold", "flagged", "share_flagged", "auroc", "aupr", "fpr_at_tpr"]))
    return blocks + _heatmaps(figures, ["distribution"]) + _figure(figures, "models_ood_auroc.png")


def adversarial_section(res: RunResults, figures: Mapping[str, str], table3: Sequence[dict]) -> list[Block]:
    blocks: list[Block] = [Paragraph(describe(res.study, "adversarial"))]
    if table3:
        blocks.append(table("Table 3: accuracy before and after BERT-Attack", table3, TABLE3_COLUMNS))
    metrics = res.rows("adversarial", "adversarial_metrics")
    if metrics:
        cols = [c for c in ("target_model", "n", "skipped", "failed", "succeeded", "over_budget", "success_rate",
                            "mean_perturbed", "mean_queries") if any(c in r for r in metrics)]
        blocks.append(table("Outcomes and cost of the attack", metrics, cols))
    return blocks + _heatmaps(figures, ["adversarial"]) + _figure(figures, "models_attack.png")


def fingerprints(res: RunResults, meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Dataset fingerprints: the study's own list, then any `*fingerprint*` a result file's meta records."""
    found = dict(dict_items(meta.get("datasets") or {}))
    for c in res.present:
        for t in res.tables[c].values():
            for k, v in dict_items(t.meta):
                if "fingerprint" in k and v:
                    found.setdefault(f"{c}: {k}", v)
    return list(found.items())


def provenance(res: RunResults, meta: Mapping[str, Any]) -> list[Block]:
    """Where the numbers come from: package, commit, models, datasets, seeds, and every file's own meta."""
    blocks: list[Block] = []
    head = [(k, str(meta[k])) for k in ("package", "version", "git_commit", "time") if k in meta]
    head.append(("run folder", str(res.root)))
    blocks.append(KeyValues("Study", tuple(head)))
    if study_models(res):
        blocks.append(model_records(study_models(res)))
    if fingerprints(res, meta):
        blocks.append(KeyValues("Datasets (fingerprints)", tuple(fingerprints(res, meta))))
    if meta.get("seeds"):
        blocks.append(KeyValues("Seeds", tuple(dict_items(meta["seeds"]))))
    if not res.study:
        blocks.append(Paragraph("No study.json in this run folder: the study's config, models and datasets are "
                                "known only from the result files' own meta blocks below.", note=True))
    stamps = ("version", "git_commit", "time")
    files = [{"file": str(t.path.relative_to(res.root)), **{k: t.meta.get(k) for k in stamps}}
             for c in res.present for t in res.tables[c].values()]
    blocks.append(table("Result files read", files, ["file", "version", "git_commit", "time"]))
    if meta.get("config"):
        blocks.append(KeyValues("The study's whole config", tuple(dict_items(meta["config"])), collapsed=True))
    return blocks


def compose(res: RunResults, models: Sequence[str], table2: Sequence[dict], table3: Sequence[dict],
            per_model: Sequence[dict], matrices: Mapping[str, Agreement], figures: Mapping[str, str],
            meta: Mapping[str, Any], card: Sequence[dict] = (), table2_corrected: Sequence[dict] = ()) -> Document:
    """The whole report. `figures`: file name -> caption of every figure written (absent ones are left out)."""
    overview: list[Block] = [reference_cards(models[0], dict(matrices), SHORT, table3, corrected_with(res, models[0]))]
    if res.missing:
        overview.append(Paragraph(
            f"Not in this run: {', '.join(TITLES[c].lower() for c in res.missing)} (no results under "
            f"{', '.join(c + '/' for c in res.missing)}); their columns are empty and their sections left out.",
            note=True))
    if table2:
        overview.append(table("Table 2: agreement of every pair of models (Jaccard)", table2, TABLE2_COLUMNS,
                              shade=["prediction_errors", "representation_before_mean", "representation_after_mean",
                                     "distribution"]))
    if table2_corrected:
        overview.append(table("Table 2 corrected for chance: (J - chance) / (1 - chance), 0 where two models agree "
                              "no more than sets of their sizes drawn at random", table2_corrected,
                              TABLE2_CORRECTED_COLUMNS, shade=TABLE2_CORRECTED_COLUMNS[2:]))
    overview += _figure(figures, "figure1.png", wide=True)
    sections = [Section("overview", "Overview", tuple(overview))]
    parts = {"errors": lambda: errors_section(res, figures),
             "representation": lambda: representation_section(res, figures),
             "distribution": lambda: distribution_section(res, figures),
             "adversarial": lambda: adversarial_section(res, figures, table3)}
    for c in res.present:
        sections.append(Section(c, TITLES[c], tuple(parts[c]())))
    card_blocks = (table("Table 1: the models (size on disk of the checkpoint the study used; latency per "
                         "example at batch 1 on this machine; speed-up against the first model)", card,
                         CARD_COLUMNS, digits=3),) if card else ()
    sections.append(Section("models", "Per model", (*card_blocks,
                                                    table("Every model on its own", per_model, MODEL_COLUMNS))))
    sections.append(Section("provenance", "Provenance", tuple(provenance(res, meta))))
    title = f"Are compressed models miniatures of {models[0]}?"
    return Document(title, lead(models, res.present), tuple(sections))


def figure_captions(reference: str, panels: Sequence[str], matrices: Mapping[str, Agreement]) -> dict[str, str]:
    """Captions of every figure the report may show, by file name; `panels`: Figure 1's panel titles."""
    lettered = "; ".join(f"({chr(ord('a') + n)}) {t[:1].lower() + t[1:]}" for n, t in enumerate(panels))
    caps = {
        "figure1.png": f"Figure 1: agreement of every model with {reference} against K: {lettered}.",
        "models_scores.png": "SQuAD 2.0 exact match and F1 of every model.",
        "models_ood_auroc.png": "How well each model's Deep kNN detector separates OOD from in-distribution points.",
        "models_attack.png": "Accuracy before and after BERT-Attack, per target model.",
    }
    for name in matrices:
        caps[f"heatmap_{name}.png"] = f"{AGREEMENT_TITLES[name]}, every pair of models."
    return caps

