"""What the study report says: its sections, tables and figures, composed from a run's results."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from miniature.report.assemble import VERDICT_RULE, Agreement, corrected_with, table2_columns, verdict_lines
from miniature.report.collect import RunResults, study_models
from miniature.report.document import (
    Block,
    Cards,
    Document,
    Figure,
    KeyValues,
    Paragraph,
    Section,
    dict_items,
    model_records,
    reference_cards,
    table,
)
from miniature.reportspec import Figure as FigureSpec
from miniature.reportspec import Table as TableSpec
from miniature.reportspec import Text as TextSpec
from miniature.tables import CARD_COLUMNS


def lead(models: Sequence[str], titles: Sequence[str]) -> str:
    large, small = models[0], list(models[1:])
    compared = ", ".join(t.lower() for t in titles)
    return (f"Does a compressed model behave like a miniature version of the large one? This report compares "
            f"{large} with {len(small)} compressed model(s) ({', '.join(small) or 'none'}) on {compared}. "
            "Each characteristic is an agreement between two models (for the paper's four, a Jaccard "
            "coefficient): 1 when they behave alike on every point, 0 when they share nothing. Were the "
            f"compressed models miniatures of {large}, their agreement with it would be close to 1. Set sizes "
            "alone give some agreement (two "
            "models each wrong on half the questions share a third of their errors by chance), so the tables "
            "below also give each Jaccard's chance level, for sets of the same sizes drawn at random, and the "
            "chance-corrected Jaccard: 0 at chance, 1 when identical; and a 95% interval of each Jaccard over "
            "the points compared.")


def present(rows: Sequence[dict], columns: Sequence[str]) -> list[str]:
    """The columns some row holds (a run folder written before a column existed lacks it)."""
    return [c for c in columns if any(r.get(c) is not None for r in rows)]


def figure_name(characteristic: str, name: str) -> str:
    """The report's file name of a figure a characteristic drew in its own folder."""
    return f"{characteristic}_{name}"


def section(res: RunResults, characteristic: str, figures: Mapping[str, str],
            matrices: Mapping[str, Agreement]) -> list[Block]:
    """A characteristic's section: its description, the blocks its spec lists, its heat maps and bar figures."""
    spec = res.specs[characteristic]
    text = spec.description
    blocks: list[Block] = [Paragraph(text[:1].upper() + text[1:] + ".")]
    for b in spec.blocks:
        if isinstance(b, TextSpec):
            blocks.append(Paragraph(b.text))
        elif isinstance(b, TableSpec):
            rows = res.rows(characteristic, b.rows)
            if rows:
                blocks.append(table(b.title, rows, present(rows, b.columns), b.digits, b.shade))
        elif isinstance(b, FigureSpec):
            blocks += _figure(figures, figure_name(characteristic, b.name))
    for a in spec.agreements:
        if a.name in matrices:
            blocks += _figure(figures, f"heatmap_{a.name}.png")
    for bars in spec.bars:
        blocks += _figure(figures, bars.name)
    return blocks


def _figure(figures: Mapping[str, str], name: str, wide: bool = False) -> list[Block]:
    return [Figure(name, figures[name], wide)] if name in figures else []


def value_cards(res: RunResults, reference: str) -> list[tuple[str, str, str]]:
    """The overview's cards of one value per model (the attack's accuracy drop): the reference's
    value beside the others' mean."""
    items = []
    for c in res.present:
        for card in res.specs[c].cards:
            values = {r.get(card.key): r.get(card.value) for r in res.rows(c, card.rows)}
            mine = values.get(reference)
            if not isinstance(mine, (int, float)) or math.isnan(mine):
                continue
            others = [v for m, v in values.items() if m != reference and isinstance(v, (int, float))
                      and not math.isnan(v)]
            note = card.note.format(reference=reference)
            if others and card.others:
                note += "; " + card.others.format(mean=f"{sum(others) / len(others):.1f}{card.unit}")
            items.append((card.label, f"{mine:.1f}{card.unit}", note))
    return items


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


def scorecard_blocks(scores: Sequence[dict], figures: Mapping[str, str]) -> list[Block]:
    """The scorecard: a row per characteristic, a column per compressed model holding its
    chance-corrected agreement with the reference [95% interval] and verdict; the verdicts' row;
    the rule; the dot figure."""
    if not scores:
        return []
    lines = verdict_lines(scores)
    models = [line["model"] for line in lines]
    rows: list[dict[str, Any]] = []
    for title in dict.fromkeys(s["title"] for s in scores):
        row: dict[str, Any] = {"characteristic": title}
        for s in scores:
            if s["title"] == title:
                interval = (f" [{s['ci_low']:.2f}, {s['ci_high']:.2f}]" if s["ci_low"] is not None
                            and s["ci_high"] is not None else "")
                row[s["model"]] = f"{s['corrected']:.2f}{interval}: {s['verdict']}"
        rows.append(row)
    rows.append({"characteristic": "verdict", **{line["model"]: line["short"] for line in lines}})
    return [table(f"Scorecard: each compressed model's agreement with {scores[0]['reference']} per characteristic, "
                  "corrected for chance [95% interval], and its verdict", rows, ["characteristic", *models]),
            Paragraph("; ".join(f"{line['model']} is {line['verdict']}" for line in lines) + "."),
            Paragraph(VERDICT_RULE), *_figure(figures, "scorecard.png", wide=True)]


def compose(res: RunResults, models: Sequence[str], table2: Sequence[dict], per_model: Sequence[dict],
            per_model_columns: Sequence[str], matrices: Mapping[str, Agreement], figures: Mapping[str, str],
            meta: Mapping[str, Any], card: Sequence[dict] = (), table2_corrected: Sequence[dict] = (),
            scores: Sequence[dict] = ()) -> Document:
    """The whole report. `figures`: file name -> caption of every figure written (absent ones are left out)."""
    cards = reference_cards(models[0], dict(matrices), corrected_with(res, models[0]))
    overview: list[Block] = [*scorecard_blocks(scores, figures),
                             Cards(cards.items + tuple(value_cards(res, models[0])))]
    if res.missing:
        overview.append(Paragraph(
            f"Not in this run: {', '.join(res.title(c).lower() for c in res.missing)} (no results under "
            f"{', '.join(c + '/' for c in res.missing)}); their columns are empty and their sections left out.",
            note=True))
    if table2:
        cols = table2_columns(res)
        shade = [col.column for c in res.present for col in res.specs[c].table2 if col.shade]
        overview.append(table("Table 2: agreement of every pair of models (Jaccard)", table2, cols, shade=shade))
    if table2_corrected:
        cols = table2_columns(res, corrected=True)
        overview.append(table("Table 2 corrected for chance: (J - chance) / (1 - chance), 0 where two models agree "
                              "no more than sets of their sizes drawn at random", table2_corrected, cols,
                              shade=cols[2:]))
    overview += _figure(figures, "figure1.png", wide=True)
    sections = [Section("overview", "Overview", tuple(overview))]
    for c in res.present:
        sections.append(Section(c, res.title(c), tuple(section(res, c, figures, matrices))))
    card_blocks = (table("Table 1: the models (size on disk of the checkpoint the study used; latency per "
                         "example at batch 1 on this machine; speed-up against the first model)", card,
                         CARD_COLUMNS, digits=3),) if card else ()
    sections.append(Section("models", "Per model", (*card_blocks,
                                                    table("Every model on its own", per_model, per_model_columns))))
    sections.append(Section("provenance", "Provenance", tuple(provenance(res, meta))))
    title = f"Are compressed models miniatures of {models[0]}?"
    return Document(title, lead(models, [res.title(c) for c in res.present]), tuple(sections))


def figure_captions(res: RunResults, reference: str, panels: Sequence[str],
                    matrices: Mapping[str, Agreement]) -> dict[str, str]:
    """Captions of every figure the report may show, by file name; `panels`: Figure 1's panel titles."""
    lettered = "; ".join(f"({chr(ord('a') + n)}) {t[:1].lower() + t[1:]}" for n, t in enumerate(panels))
    caps = {"figure1.png": f"Figure 1: agreement of every model with {reference} against K: {lettered}.",
            "scorecard.png": f"The scorecard: each compressed model's agreement with {reference} per characteristic, "
                             "corrected for chance, with its 95% interval; the dashed line is the verdict's threshold."}
    for c in res.present:
        for bars in res.specs[c].bars:
            caps[bars.name] = bars.caption
        for b in res.specs[c].blocks:
            if isinstance(b, FigureSpec):
                caps[figure_name(c, b.name)] = b.caption
    for name, agr in matrices.items():
        caps[f"heatmap_{name}.png"] = f"{agr.spec.title}, every pair of models."
    return caps
