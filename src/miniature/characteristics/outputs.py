"""Output agreement: how often and how far a compressed model's answers move from the reference's,
item by item: answer flips (correct to wrong and back), top-1 agreement and Cohen's kappa, the
exact McNemar test and a paired bootstrap of the accuracy change, KL divergence of the output
distributions, the gold answer's probability change, where the flips land by the reference's
margin, per-class accuracy changes, and the items most models flip. On every task's cached
per-item outputs; the measures are `miniature.paired`'s."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from miniature import reportspec as rs
from miniature.agreement import chance_jaccard, corrected_jaccard, pair_order
from miniature.characteristics.base import CHARACTERISTICS, Characteristic, Note, rank, register
from miniature.checkpoints import is_given, study_models
from miniature.config import Section, StudyConfig, TaskName, positive
from miniature.data.lmeval import ItemRecord, read_item_file, read_lm_eval_task, samples_files
from miniature.exceptions import ConfigError, DataError
from miniature.paired import (
    TopK,
    agreement,
    check_distributions,
    flips,
    flips_by_margin,
    gold_change,
    kl_rows,
    kl_top_k,
    ln_ppl_ratio,
    margins,
    mcnemar_exact,
    paired_bootstrap,
    probability_change,
    summary,
    wilson_interval,
)
from miniature.runs import RunDir, inputs_meta, meta_block, write_outputs
from miniature.tables import to_markdown, write_table
from miniature.taskdefs import TASKS, Outputs
from miniature.zoo import check_given_head, hf_quiet

PAIR_COLUMNS = ["task", "model_i", "model_j", "n", "accuracy_i", "accuracy_j", "accuracy_change",
                "accuracy_change_ci_low", "accuracy_change_ci_high", "correct_to_wrong", "wrong_to_correct",
                "flip_rate", "negative_flip_rate", "negative_flip_impact", "mcnemar_p", "top1_agreement",
                "top1_agreement_se", "top1_agreement_ci_low", "top1_agreement_ci_high", "churn", "chance_agreement",
                "kappa", "error_jaccard", "error_jaccard_chance", "error_jaccard_corrected",
                "kl_mean", "kl_se", "kl_median", "kl_p90", "kl_p99", "kl_p999", "kl_max", "reverse_kl_mean",
                "gold_change_mean", "gold_change_rms", "gold_change_p1", "gold_change_p5", "gold_change_p95",
                "gold_change_p99", "ppl_i", "ppl_j", "ln_ppl_ratio", "ln_ppl_ratio_se", "ln_ppl_correlation",
                "kl_note"]
PPL_COLUMNS = ("ppl_i", "ppl_j", "ln_ppl_ratio", "ln_ppl_ratio_se", "ln_ppl_correlation")
FLIP_COLUMNS = ("model_i", "model_j", "accuracy_i", "accuracy_j", "accuracy_change", "accuracy_change_ci_low",
                "accuracy_change_ci_high", "correct_to_wrong", "wrong_to_correct", "flip_rate", "negative_flip_rate",
                "negative_flip_impact", "mcnemar_p", "top1_agreement", "churn", "kappa", "error_jaccard",
                "error_jaccard_corrected")
KL_COLUMNS = ("model_i", "model_j", "kl_mean", "kl_se", "kl_median", "kl_p90", "kl_p99", "kl_p999", "kl_max",
              "reverse_kl_mean", "top1_agreement", "top1_agreement_se", "gold_change_mean", "gold_change_rms",
              "gold_change_p5", "gold_change_p95", "kl_note")
MARGIN_COLUMNS = ["task", "model_i", "model_j", "margin_low", "margin_high", "n", "changed", "change_rate"]
CLASS_COLUMNS = ["task", "model_i", "model_j", "label", "n", "accuracy_i", "accuracy_j", "accuracy_change"]
ITEM_COLUMNS = ["task", "id", "flipped_by", "models", "gold", "reference_prediction", "text"]


class OutputsConfig(Section):
    """Output agreement: every model's per-item outputs against the first model's, on each task."""

    # the tasks compared (`miniature list tasks`); None: those the study's other characteristics use
    tasks: list[TaskName] | None = Field(None, min_length=1)
    bootstrap: int = Field(2000, ge=100)  # paired bootstrap replicates of the accuracy change
    seed: int = 0  # the bootstrap's
    top_items: int = Field(20, ge=0)  # items flipped by the most models, listed with their text


def study_tasks(cfg: StudyConfig) -> tuple[str, ...]:
    """The tasks compared: `outputs.tasks`, else every task another characteristic of the study
    fine-tunes for (in registry order), else QA."""
    if cfg.outputs.tasks:
        return tuple(cfg.outputs.tasks)
    used = {t for n in cfg.characteristics if n != OutputAgreement.name for t in CHARACTERISTICS.get(n).task_names(cfg)}
    return tuple(t for t in TASKS if t in used) or ("qa",)


# ---- the measures of one pair, and of a task's models


def _window_kl(a: Outputs, b: Outputs) -> tuple[np.ndarray | None, str]:
    """Per item: KL of the start plus the end distribution, averaged over the item's windows."""
    assert a.windows is not None and b.windows is not None
    if set(a.windows) != set(b.windows) or a.window_item is None or b.window_item is None or not np.array_equal(
            a.window_item, b.window_item):
        return None, "the models read the items in different windows (different tokenizers): no shared outcomes"
    per_window = np.zeros(len(a.window_item))
    for name in a.windows:
        (va, oa), (vb, ob) = a.windows[name], b.windows[name]
        if not np.array_equal(oa, ob):
            return None, "the models' windows differ in length (different tokenizers): no shared outcomes"
        lp, lq = va.astype(np.float64), vb.astype(np.float64)
        p = np.exp(lp)
        with np.errstate(invalid="ignore"):
            terms = np.where(p > 0, p * (lp - lq), 0.0)
        per_window += np.add.reduceat(terms, oa[:-1]) if len(oa) > 1 else np.zeros(0)
    n = len(a.ids)
    counts = np.bincount(a.window_item, minlength=n)
    return np.bincount(a.window_item, weights=per_window, minlength=n) / np.maximum(counts, 1), ""


def pair_divergence(a: Outputs, b: Outputs, names: tuple[str, str]) -> tuple[np.ndarray | None, np.ndarray | None,
                                                                            str]:
    """KL(a || b) and KL(b || a) per item, where the two models' output distributions share their
    outcomes; else None and the reason."""
    if a.probs is not None and b.probs is not None:
        p = check_distributions(a.probs, f"outputs of {names[0]}")
        q = check_distributions(b.probs, f"outputs of {names[1]}")
        if p.shape != q.shape:
            return None, None, (f"{names[0]} has {p.shape[1]} classes and {names[1]} {q.shape[1]}: KL needs one "
                                "shared label set")
        return kl_rows(p, q), kl_rows(q, p), ""
    if a.windows is not None and b.windows is not None:
        forward, why = _window_kl(a, b)
        if forward is None:
            return None, None, why
        backward, _ = _window_kl(b, a)
        return forward, backward, ""
    lockstep = _lockstep_kl(a, b)
    if lockstep is not None:
        return lockstep
    return None, None, "the task's outputs hold no distributions"


def _lockstep_kl(a: Outputs, b: Outputs) -> tuple[np.ndarray | None, np.ndarray | None, str] | None:
    """Next-token outputs (language modelling): each compressed model's exact per-token KL from the
    study's first model, computed in lockstep with it when it was scored. None where these are
    not such outputs."""
    if not (a.extra and b.extra and "kl_ref" in a.extra and "kl_ref" in b.extra):
        return None
    if a.extra["is_reference"][0] and b.extra.get("lockstep", np.ones(1))[0] and np.array_equal(
            a.extra["ref_tag"], b.extra["ref_tag"]):
        return b.extra["kl_ref"], b.extra["kl_ref_reverse"], ""
    if "top_ids" in a.extra and "top_ids" in b.extra:
        pa, pb = _top_k_summary(a.extra), _top_k_summary(b.extra)
        return kl_top_k(pa, pb), kl_top_k(pb, pa), (
            f"a lower bound: KL from each position's top-{pa.ids.shape[1]} summary (exact KL runs in lockstep "
            "against the study's first model only)")
    return None, None, ("next-token KL is computed against the study's first model, in lockstep with it; this "
                        "pair does not include it")


def _top_k_summary(extra: Mapping[str, np.ndarray]) -> TopK:
    return TopK(extra["top_ids"].astype(np.int64), extra["top_logprobs"].astype(np.float64),
                extra["tail"].astype(np.float64), int(extra["vocab"][0]))


def chance_agreement(pred_i: Sequence[str], pred_j: Sequence[str]) -> float:
    """The top-1 agreement two models with these prediction frequencies reach by chance (Cohen):
    sum over answers of the product of their shares."""
    n = len(pred_i)
    fi, fj = Counter(pred_i), Counter(pred_j)
    return sum(c * fj[a] for a, c in fi.items()) / (n * n) if n else math.nan


def pair_row(task: str, names: tuple[str, str], a: Outputs, b: Outputs, n_boot: int, seed: int) -> dict[str, Any]:
    """Every measure of one pair (a the reference of the pair, the direction KL takes)."""
    if a.ids != b.ids:
        raise DataError(f"{task}: {names[0]} and {names[1]} were scored on different items; compare outputs of "
                        "the same items")
    f = flips(a.correct, b.correct)
    lo, hi = paired_bootstrap(a.correct, b.correct, n_boot, seed)
    agree, agree_se = agreement(a.predictions, b.predictions)
    chance = chance_agreement(a.predictions, b.predictions)
    wilson = wilson_interval(agree, f["n"])
    row: dict[str, Any] = {
        "task": task, "model_i": names[0], "model_j": names[1], "n": f["n"], "accuracy_i": f["accuracy_ref"],
        "accuracy_j": f["accuracy_cmp"], "accuracy_change": f["accuracy_change"], "accuracy_change_ci_low": lo,
        "accuracy_change_ci_high": hi, "correct_to_wrong": f["correct_to_wrong"],
        "wrong_to_correct": f["wrong_to_correct"], "flip_rate": f["flip_rate"],
        "negative_flip_rate": f["negative_flip_rate"], "negative_flip_impact": f["negative_flip_impact"],
        "mcnemar_p": mcnemar_exact(f["correct_to_wrong"], f["wrong_to_correct"]), "top1_agreement": agree,
        "top1_agreement_se": agree_se, "top1_agreement_ci_low": wilson[0], "top1_agreement_ci_high": wilson[1],
        "churn": 1 - agree, "chance_agreement": chance,
        "kappa": (agree - chance) / (1 - chance) if chance < 1 else math.nan, "error_jaccard": f["error_jaccard"]}
    # the error-set Jaccard's chance level: error sets of these sizes drawn at random from the n items
    errors_i, errors_j = f["n"] - int(a.correct.sum()), f["n"] - int(b.correct.sum())
    row["error_jaccard_chance"] = chance_jaccard(errors_i, errors_j, f["n"]) if f["n"] else math.nan
    row["error_jaccard_corrected"] = corrected_jaccard(row["error_jaccard"], row["error_jaccard_chance"])
    forward, backward, why = pair_divergence(a, b, names)
    row.update(summary(forward if forward is not None else np.zeros(0), "kl"))
    row["reverse_kl_mean"] = float(backward.mean()) if backward is not None and backward.size else math.nan
    if a.probs is not None and b.probs is not None and a.labels is not None and forward is not None:
        row.update(gold_change(a.probs, b.probs, a.labels))
    elif a.extra and b.extra and "logprob" in a.extra and "logprob" in b.extra:
        # the actual next token's probability (llama.cpp's delta-p), and its ln perplexity ratio
        row.update(probability_change(np.exp(a.extra["logprob"]), np.exp(b.extra["logprob"])))
        row.update(ln_ppl_ratio(a.extra["logprob"], b.extra["logprob"]))
    else:
        row.update({k: math.nan for k in ("gold_change_mean", "gold_change_rms", "gold_change_p1", "gold_change_p5",
                                          "gold_change_p95", "gold_change_p99")})
    row["kl_note"] = why
    for key in PPL_COLUMNS:
        row.setdefault(key, math.nan)
    return row


@dataclass(frozen=True)
class TaskOutputs:
    """One task's items and every model's outputs on them (the first model the reference)."""

    task: str
    items: Any
    outputs: Mapping[str, Outputs]


@dataclass(frozen=True)
class OutputsResult:
    """Every pair's measures, the reference's margin bins, per-class changes and the most flipped items."""

    names: tuple[str, ...]
    pairs: tuple[dict, ...]
    margins: tuple[dict, ...]
    classes: tuple[dict, ...]
    items: tuple[dict, ...]
    kl: Mapping[str, Mapping[str, np.ndarray]]  # task -> model -> per-item KL(reference || model)

    def rows(self, task: str | None = None) -> list[dict]:
        return [r for r in self.pairs if task is None or r["task"] == task]

    def markdown(self) -> str:
        parts = []
        for task in dict.fromkeys(r["task"] for r in self.pairs):
            parts.append(f"Output agreement on {task}: flips and agreement\n\n"
                         + to_markdown(self.rows(task), list(FLIP_COLUMNS), 4))
            parts.append(f"Output agreement on {task}: divergence of the output distributions\n\n"
                         + to_markdown(self.rows(task), list(KL_COLUMNS), 4))
        return "\n\n".join(parts)

    def write(self, out_dir: str | Path, meta: dict) -> dict[str, Path]:
        """outputs.*, outputs_margins.*, outputs_classes.*, outputs_items.*, the figures and the report spec."""
        out = Path(out_dir)
        paths = write_table(out, "outputs", list(self.pairs), meta, PAIR_COLUMNS, digits=4)
        paths.update({f"margins_{k}": v for k, v in write_table(out, "outputs_margins", list(self.margins), meta,
                                                                 MARGIN_COLUMNS, digits=4).items()})
        paths.update({f"classes_{k}": v for k, v in write_table(out, "outputs_classes", list(self.classes), meta,
                                                                 CLASS_COLUMNS, digits=4).items()})
        paths.update({f"items_{k}": v for k, v in write_table(out, "outputs_items", list(self.items), meta,
                                                               ITEM_COLUMNS).items()})
        from miniature.plots import plot_cdfs, plot_margin_risk

        reference = self.names[0]
        figures = []
        kl_panels = {task: {m: v for m, v in per.items()} for task, per in self.kl.items() if per}
        if kl_panels:
            paths["kl_cdf"] = plot_cdfs(out / "outputs_kl_cdf.png", kl_panels, reference,
                                        "KL(reference || model) per item, nats")
            figures.append("kl")
        margin_panels = {t: [r for r in self.margins if r["task"] == t] for t in dict.fromkeys(
            r["task"] for r in self.margins)}
        if margin_panels:
            paths["margin_risk"] = plot_margin_risk(out / "outputs_margin_risk.png", margin_panels, reference)
            figures.append("margin")
        tasks = tuple(dict.fromkeys(r["task"] for r in self.pairs))
        next_token = tuple(t for t in tasks if any(r["task"] == t and not math.isnan(r["ppl_i"]) for r in self.pairs))
        paths["report"] = report_spec(tasks, reference, tuple(figures), bool(self.classes), bool(self.items),
                                      next_token).write(out)
        return paths


def compare_outputs(tasks: Sequence[TaskOutputs], n_boot: int = 2000, seed: int = 0, top_items: int = 20,
                    describe: Mapping[str, Any] | None = None) -> OutputsResult:
    """Every pair of models on every task (the first model of each pair its reference), the
    reference's margin bins and per-class changes against each other model, and the items the
    most models flip.

    Args:
        tasks: each task's items and the models' outputs, in the study's model order.
        describe: task -> function(items, index) -> (text, gold) for the listed items.
    """
    pairs, margin_rows, class_rows, item_rows = [], [], [], []
    kl: dict[str, dict[str, np.ndarray]] = {}
    names: tuple[str, ...] = ()
    for t in tasks:
        names = tuple(t.outputs)
        if len(names) < 2:
            raise DataError(f"{t.task}: output agreement needs two models at least, got {len(names)}")
        for i, j in pair_order(names):
            pairs.append(pair_row(t.task, (i, j), t.outputs[i], t.outputs[j], n_boot, seed))
        ref = t.outputs[names[0]]
        kl[t.task] = {}
        for other in names[1:]:
            out = t.outputs[other]
            forward, _, _ = pair_divergence(ref, out, (names[0], other))
            if forward is not None:
                kl[t.task][other] = forward
            changed = np.array([x != y for x, y in zip(ref.predictions, out.predictions)], dtype=bool)
            if ref.probs is not None:
                margin_rows += [{"task": t.task, "model_i": names[0], "model_j": other, **r}
                                for r in flips_by_margin(margins(ref.probs), changed)]
            if ref.labels is not None:
                for label in sorted({int(x) for x in ref.labels}):
                    at = ref.labels == label
                    acc_i, acc_j = float(ref.correct[at].mean()), float(out.correct[at].mean())
                    class_rows.append({"task": t.task, "model_i": names[0], "model_j": other, "label": label,
                                       "n": int(at.sum()), "accuracy_i": acc_i, "accuracy_j": acc_j,
                                       "accuracy_change": acc_j - acc_i})
        flipped = np.stack([t.outputs[o].correct != ref.correct for o in names[1:]])
        count = flipped.sum(0)
        order = sorted((k for k in range(len(ref.ids)) if count[k] > 0), key=lambda k: (-int(count[k]), k))
        show = describe.get(t.task) if describe else None
        for k in order[:top_items]:
            text, gold = show(t.items, k) if show else ("", "")
            item_rows.append({"task": t.task, "id": ref.ids[k], "flipped_by": int(count[k]),
                              "models": ", ".join(o for o, f in zip(names[1:], flipped[:, k]) if f), "gold": gold,
                              "reference_prediction": ref.predictions[k], "text": text})
    return OutputsResult(names, tuple(pairs), tuple(margin_rows), tuple(class_rows), tuple(item_rows), kl)


PPL_TABLE = ("model_i", "model_j", "ppl_i", "ppl_j", "ln_ppl_ratio", "ln_ppl_ratio_se", "ln_ppl_correlation",
             "kl_mean", "kl_se", "kl_p99", "kl_max", "top1_agreement", "top1_agreement_se", "gold_change_mean",
             "gold_change_rms")


def report_spec(tasks: tuple[str, ...], reference: str, figures: tuple[str, ...] = (), classes: bool = False,
                items: bool = False, next_token: tuple[str, ...] = ()) -> rs.ReportSpec:
    """What the report shows: per task the flips table and the divergence table, an agreement
    matrix (top-1 agreement, kappa as its chance-corrected value), Table 2 columns, per-model
    columns against the reference; the KL and margin figures, per-class changes, flipped items."""
    blocks: list[rs.Block] = [rs.Text(
        "Each pair's first model is its reference (the study's first model in the pairs with it). C->W: items "
        "the reference gets right and the other wrong; flip rate = (C->W + W->C) / n; negative flip impact = "
        "C->W / the other's errors; churn = 1 - top-1 agreement (it also counts one wrong answer changed into "
        "another); kappa corrects the agreement for chance; McNemar's exact p-value tests the discordant items; "
        "the accuracy change's interval is a paired bootstrap (95%). KL(reference || model) is in nats per item. "
        "The error-set Jaccard equals both-wrong / (both-wrong + flips).")]
    agreements, table2, table2c, per_model = [], [], [], []
    for task in tasks:
        rows = rs.Rows("outputs", where={"task": task})
        blocks.append(rs.Table(f"Flips and top-1 agreement on {task}", rows, FLIP_COLUMNS,
                               shade=("top1_agreement", "kappa", "error_jaccard")))
        blocks.append(rs.Table(f"Divergence of the output distributions on {task}", rows, KL_COLUMNS))
        if task in next_token:
            blocks.append(rs.Table(
                f"Perplexity and next-token agreement on {task}, as llama.cpp's --kl-divergence reports them (KL "
                "exact over the vocabulary, in lockstep with the reference; gold_change: the actual next token's "
                "probability, model minus reference)", rs.Rows("outputs", where={"task": task, "model_i": reference}),
                PPL_TABLE))
        agreements.append(rs.Agreement(f"outputs_{task}", f"Top-1 agreement of outputs ({task})",
                                       f"Output agreement ({task})", rows, "top1_agreement", corrected="kappa",
                                       measure="top-1 agreement", low="top1_agreement_ci_low",
                                       high="top1_agreement_ci_high", chance="chance_agreement"))
        table2.append(rs.PairColumn(f"output_agreement_{task}", rows, "top1_agreement"))
        table2c.append(rs.PairColumn(f"output_agreement_{task}", rows, "kappa"))
        per_model.append(rs.ModelColumns(rs.Rows("outputs", where={"task": task, "model_i": reference}), "model_j",
                                         {f"flip_rate_{task}": "flip_rate", f"kl_mean_{task}": "kl_mean"}))
    if "kl" in figures:
        blocks.append(rs.Figure("outputs_kl_cdf.png", f"Distribution of KL({reference} || model) over the items, "
                                "one line per model: a line to the left and steep is a model close to the reference."))
    if "margin" in figures:
        blocks.append(rs.Figure("outputs_margin_risk.png", f"Share of items whose answer changes, by {reference}'s "
                                "margin (top-1 minus top-2 probability): low-margin items flip."))
    if classes:
        blocks.append(rs.Table("Accuracy by class against the reference", rs.Rows("outputs_classes"),
                               tuple(CLASS_COLUMNS)))
    if items:
        blocks.append(rs.Table("The items the most models flip (read these first)", rs.Rows("outputs_items"),
                               tuple(ITEM_COLUMNS)))
    return rs.ReportSpec(
        OutputAgreement.name, OutputAgreement.heading, OutputAgreement.description, rank=rank(OutputAgreement.name),
        files=(rs.ResultFile("outputs", ("task", "model_i", "model_j"), ("top1_agreement", "flip_rate")),
               rs.ResultFile("outputs_margins"), rs.ResultFile("outputs_classes"), rs.ResultFile("outputs_items")),
        models=(rs.Rows("outputs"),), blocks=tuple(blocks), agreements=tuple(agreements), table2=tuple(table2),
        table2_corrected=tuple(table2c), per_model=tuple(per_model),
        # at the top of the run folder and in results.json: the pair table, the margin bins, the flipped items
        exports=(rs.Export("output_agreement", rs.Rows("outputs"), tuple(PAIR_COLUMNS)),
                 rs.Export("flips_by_margin", rs.Rows("outputs_margins"), tuple(MARGIN_COLUMNS)),
                 rs.Export("flipped_items", rs.Rows("outputs_items"), tuple(ITEM_COLUMNS))))


# ---- files other tools wrote: lm-eval's samples, plain per-item JSONL


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def task_outputs(task: str, per_model: Mapping[str, Sequence[ItemRecord]]) -> TaskOutputs:
    """One task's items as every model's outputs, matched by id (lm-eval: the doc_id) in the first
    model's order: the same items for every model (and, where the files hash the documents, the
    same documents). Options' log-likelihoods become the distribution over the options (softmax;
    lists of unequal length padded with zeros, which KL and margins ignore)."""
    names = list(per_model)
    first = {r.id: r for r in per_model[names[0]]}
    ids = list(first)
    if all(i.lstrip("-").isdigit() for i in ids):
        ids.sort(key=int)
    out: dict[str, Outputs] = {}
    for name in names:
        mine = {r.id: r for r in per_model[name]}
        if mine.keys() != first.keys():
            extra = sorted(mine.keys() - first.keys()) or sorted(first.keys() - mine.keys())
            raise DataError(f"{task}: {name} and {names[0]} scored different items ({len(mine)} and {len(first)}; "
                            f"e.g. {extra[0]!r} is in one only); run both on the same task and documents")
        records = [mine[i] for i in ids]
        for r in records:
            if r.doc_hash and first[r.id].doc_hash and r.doc_hash != first[r.id].doc_hash:
                raise DataError(f"{task}: document {r.id} differs between {names[0]} and {name} (its doc_hash); "
                                "run both on the same version of the task")
        probs = None
        if all(r.logliks is not None for r in records):
            width = max(len(r.logliks) for r in records if r.logliks is not None)
            probs = np.zeros((len(records), width))
            for k, r in enumerate(records):
                assert r.logliks is not None
                probs[k, : len(r.logliks)] = _softmax(r.logliks)
        elif all(r.probs is not None for r in records):
            widths = {len(r.probs) for r in records if r.probs is not None}
            if len(widths) > 1:
                raise DataError(f"{task}: {name}'s probability lists have {sorted(widths)} entries; give every item "
                                "one probability per class")
            probs = np.stack([r.probs for r in records if r.probs is not None])
        if probs is not None:
            check_distributions(probs, f"{name}'s probabilities")
        labels = (np.array([r.label for r in records], dtype=np.int64)
                  if all(r.label is not None for r in records) else None)
        if labels is not None and probs is not None:
            bad = np.flatnonzero((labels < 0) | (labels >= probs.shape[1]))
            if bad.size:
                raise DataError(f"{task}: {name}'s item {ids[bad[0]]!r} has label {labels[bad[0]]}, not one of its "
                                f"{probs.shape[1]} classes (0 to {probs.shape[1] - 1})")
        out[name] = Outputs(tuple(ids), tuple(r.prediction for r in records),
                            np.array([r.correct for r in records], dtype=bool), probs, labels)
    return TaskOutputs(task, None, out)


def _names(inputs: Sequence[str | Path], names: Sequence[str]) -> list[str]:
    if names and len(names) != len(inputs):
        raise ConfigError(f"--names gives {len(names)} names for {len(inputs)} inputs")
    labels = list(names) or [Path(p).stem if Path(p).is_file() else Path(p).name for p in inputs]
    if len(set(labels)) != len(labels):
        raise ConfigError("two inputs share a name; give distinct --names")
    return labels


def compare_output_files(lm_eval_samples: Sequence[str | Path] = (), items: Sequence[str | Path] = (),
                         names: Sequence[str] = (), tasks: Sequence[str] = (), metric: str | None = None,
                         knobs: Mapping[str, Any] | None = None, out: str | Path | None = None) -> OutputsResult:
    """Output agreement of files other tools wrote, the first input the reference: lm-eval
    `--log_samples` output (a folder or samples file per model; items matched by task and
    doc_id; `tasks`: only these of the tasks every input holds) or plain per-item JSONL files (one
    per model). Writes the tables, figures and report spec into `out`, if given."""
    if bool(lm_eval_samples) == bool(items):
        raise ConfigError("give exactly one of --lm-eval-samples or --items")
    inputs = list(lm_eval_samples or items)
    if len(inputs) < 2:
        raise ConfigError(f"output agreement compares two inputs at least, got {len(inputs)}")
    labels = _names(inputs, names)
    cfg = OutputsConfig.model_validate(dict(knobs or {}))
    per_task: dict[str, dict[str, list[ItemRecord]]] = {}
    if items:
        per_task["items"] = {n: read_item_file(p) for n, p in zip(labels, inputs)}
    else:
        files = {n: samples_files(p) for n, p in zip(labels, inputs)}
        held = {n: set(f) for n, f in files.items()}
        for n in labels[1:]:
            if held[n] != held[labels[0]] and not tasks:
                raise DataError(f"{n} holds samples of {', '.join(sorted(held[n]))} and {labels[0]} of "
                                f"{', '.join(sorted(held[labels[0]]))}; give samples of the same tasks (or --tasks)")
        chosen = list(tasks) or sorted(held[labels[0]])
        for t in chosen:
            lacking = [n for n in labels if t not in held[n]]
            if lacking:
                raise DataError(f"{lacking[0]} holds no samples of task {t!r}; it holds "
                                f"{', '.join(sorted(held[lacking[0]]))}")
        for t in chosen:
            for n in labels:
                for name, records in read_lm_eval_task(files[n][t], t, metric).items():
                    per_task.setdefault(name, {})[n] = records
        for name, by_model in per_task.items():
            lacking = [n for n in labels if n not in by_model]
            if lacking:
                raise DataError(f"{lacking[0]} has no samples of {name!r} (another set of lm-eval filters); give "
                                "samples written with the same task config")
    result = compare_outputs([task_outputs(t, recs) for t, recs in per_task.items()], cfg.bootstrap, cfg.seed,
                             cfg.top_items)
    if out is not None:
        meta = meta_block(inputs=inputs_meta([str(p) for p in inputs]), names=labels, metric=metric,
                          outputs=cfg.model_dump())
        write_outputs(out, lambda d: result.write(d, meta), "outputs")
    return result


def outputs(config: str | Path | StudyConfig | None = None, *, lm_eval_samples: Sequence[str | Path] = (),
            items: Sequence[str | Path] = (), names: Sequence[str] = (), tasks: Sequence[str] = (),
            metric: str | None = None, out: str | Path | None = None, overrides: Sequence[str] = (),
            progress: bool = False) -> OutputsResult:
    """Output agreement (flips, McNemar, KL, top-1 agreement) of a config's models, of lm-eval
    `--log_samples` outputs (`lm_eval_samples`: a folder or file per model; `tasks`, `metric`), or
    of plain per-item JSONL files (`items`). The first model or input is the reference."""
    if sum([config is not None, bool(lm_eval_samples), bool(items)]) != 1:
        raise ConfigError("give exactly one of a config, --lm-eval-samples or --items")
    if config is None:
        return compare_output_files(lm_eval_samples, items, names, tasks, metric, out=out)
    return CHARACTERISTICS.get(OutputAgreement.name).measure(config, out=out, overrides=overrides, progress=progress)


# ---- a study's part


def model_outputs(cfg: StudyConfig, progress: bool = False) -> list[TaskOutputs]:
    """Every model's weights for each task (fine-tuned, derived or given; cached) and its outputs on
    the task's items (cached): shared with the other characteristics, computed once."""
    specs, labels = study_models(cfg)
    run = RunDir(cfg.run_dir)
    hf_quiet(progress)
    result = []
    for name in study_tasks(cfg):
        task = TASKS.get(name)
        items, train = task.items(cfg), task.train_data(cfg)
        outs = {label: task.outputs(cfg, spec, task.weights(cfg, i, specs, train, run, progress), items, run, progress)
                for i, (spec, label) in enumerate(zip(specs, labels))}
        result.append(TaskOutputs(name, items, outs))
    return result


@register
class OutputAgreement(Characteristic):
    """Output agreement (flips, KL divergence, top-1 agreement) of every model against the first."""

    name = "outputs"
    api = staticmethod(outputs)
    config = OutputsConfig
    heading = "Output agreement"
    title = "output agreement: answer flips, KL divergence and top-1 agreement per item"
    description = ("output agreement: answer flips (correct to wrong and back), top-1 agreement and kappa, "
                   "McNemar's test, KL divergence of the output distributions, per item against the first model")
    sections = ("outputs",)
    tasks = ("qa",)  # without `outputs.tasks`: the tasks of the study's other characteristics, else QA
    verb_help = "compare every model's per-item outputs with the first model's: flips, KL, agreement"

    def task_names(self, cfg: StudyConfig) -> tuple[str, ...]:
        return study_tasks(cfg)

    def cli_arguments(self, inputs: Any, parser: Any) -> None:
        inputs.add_argument("--lm-eval-samples", nargs="+", metavar="DIR",
                            help="lm-evaluation-harness --log_samples output, a folder (or samples file) per model; "
                                 "items matched by task and doc_id")
        inputs.add_argument("--items", nargs="+", metavar="ITEMS.jsonl",
                            help="per-item JSONL files, one per model: id, correct, and optionally prediction, "
                                 "probs, label")
        parser.add_argument("--names", nargs="+", help="labels for the inputs, in order (the first: the reference)")
        parser.add_argument("--tasks", nargs="+", metavar="TASK", help="with --lm-eval-samples: only these tasks")
        parser.add_argument("--metric", help="with --lm-eval-samples: the metric read as correctness (default: acc, "
                                             "else exact_match, else acc_norm)")
        parser.add_argument("--bootstrap", type=positive, metavar="N", help="paired bootstrap replicates")

    def cli_knobs(self, args: Any) -> dict[str, Any]:
        return {"bootstrap": args.bootstrap} if args.bootstrap else {}

    def check_arguments(self, args: Any) -> None:
        if args.config and (args.names or args.tasks or args.metric):
            raise ConfigError("--names, --tasks and --metric are for --lm-eval-samples and --items; a config's "
                              "models are named by their `label` and its tasks set by outputs.tasks")

    def compare_files(self, args: Any, knobs: dict[str, Any], out: Path, progress: bool = False) -> Any:
        return compare_output_files(args.lm_eval_samples or (), args.items or (), args.names or (),
                                    args.tasks or (), args.metric, knobs, out)

    def config_sections(self, cfg: StudyConfig) -> tuple[str, ...]:
        return ("outputs", *dict.fromkeys(s for t in study_tasks(cfg) for s in TASKS.get(t).sections))

    def preflight(self, cfg: StudyConfig, specs: list, note: Note) -> None:
        if len(cfg.models) < 2:
            raise DataError("outputs: output agreement compares models with the first; the study has one model")
        for name in study_tasks(cfg):
            task = TASKS.get(name)
            for i, spec in enumerate(specs):
                if not cfg.models[i].derived and is_given(cfg, i, name):
                    check_given_head(spec, task.head)

    def gather(self, cfg: StudyConfig, progress: bool = False) -> Any:
        return model_outputs(cfg, progress)

    def finish(self, cfg: StudyConfig, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        ocfg = cfg.outputs
        describe = {t.task: TASKS.get(t.task).describe for t in gathered}
        result = compare_outputs(gathered, ocfg.bootstrap, ocfg.seed, ocfg.top_items, describe)
        if out is not None:
            meta = meta_block(models=[m.model_dump() for m in cfg.models], outputs=ocfg.model_dump(),
                              items={t.task: {"source": t.items.source, "fingerprint": t.items.fingerprint}
                                     for t in gathered}, run_dir=str(cfg.run_dir))
            write_outputs(out, lambda d: result.write(d, meta), "outputs")
        return result
