"""The multiple-choice readers against lm-evaluation-harness's own task configs (the YAML files it
ships for mmlu, piqa, boolq and hellaswag, pointed at the same rows in a local JSON file): every
item's context, options and gold equal what lm-eval builds for it, zero- and five-shot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from miniature.data.mc import hellaswag_item, load_mc_dataset
from miniature.exceptions import DataError
from tests.conftest import SHARED, need_shared

lm_eval = pytest.importorskip("lm_eval")
TASKS = Path(lm_eval.__file__).parent / "tasks"


def _lm_eval_task(yaml_file: Path, tmp: Path, splits: dict[str, list[dict]], **override):
    """lm-eval's task from its own YAML, its data from local JSON files of `splits`."""
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    files = {}
    for split, rows in splits.items():
        files[split] = str(tmp / f"{yaml_file.stem}-{split}.jsonl")
        Path(files[split]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_yaml(yaml_file)
    for key in ("training_split", "validation_split", "tag", "dataset_name"):
        cfg.pop(key, None)
    cfg.update(dataset_path="json", dataset_kwargs={"data_files": files}, test_split="test", **override)
    return ConfigurableTask(config=cfg)


def _same(task, items, shots: int = 0) -> None:
    docs = list(task.test_docs())
    assert len(docs) == len(items)
    for doc, item in zip(docs, items):
        assert task.fewshot_context(doc, shots) == item.context
        assert tuple(task.doc_to_choice(doc)) == item.options
        assert task.doc_to_target(doc) == item.gold
        assert task.config.target_delimiter == item.delimiter


def _mmlu_rows(path: Path) -> list[dict]:
    return [{"question": r[0], "choices": r[1:5], "answer": "ABCD".index(r[5].strip())}
            for r in csv.reader(path.open(newline=""))]


@pytest.mark.parametrize("subject", ["anatomy", "high_school_us_history"])
@pytest.mark.parametrize("shots", [0, 5])
def test_mmlu_takes_lm_evals_prompt_and_dev_shots(tmp_path, subject, shots):
    mmlu = SHARED / "mmlu"
    need_shared(mmlu)
    task = _lm_eval_task(TASKS / "mmlu" / "default" / f"mmlu_{subject}.yaml", tmp_path,
                         {"test": _mmlu_rows(mmlu / "test" / f"{subject}_test.csv"),
                          "dev": _mmlu_rows(mmlu / "dev" / f"{subject}_dev.csv")}, fewshot_split="dev")
    _same(task, load_mc_dataset(str(mmlu / "test" / f"{subject}_test.csv"), shots=shots).examples, shots)


def test_the_mmlu_folder_reads_every_subject_and_limits_each(tmp_path):
    mmlu = SHARED / "mmlu"
    need_shared(mmlu)
    every = load_mc_dataset(str(mmlu))
    assert len(every) == 14042  # the README's count
    two = load_mc_dataset(str(mmlu), limit=2, shots=5)
    assert len(two) == 2 * 57 and len({e.id.rsplit("-", 1)[0] for e in two.examples}) == 57
    assert two.fingerprint != load_mc_dataset(str(mmlu), limit=2).fingerprint


def test_piqa_takes_lm_evals_prompt_with_the_labels_file(tmp_path):
    piqa = SHARED / "piqa" / "valid.jsonl"
    need_shared(piqa)
    labels = (SHARED / "piqa" / "valid-labels.lst").read_text().split()
    rows = [dict(json.loads(line), label=int(lab)) for line, lab in zip(piqa.read_text().splitlines()[:200], labels)]
    _same(_lm_eval_task(TASKS / "piqa" / "piqa.yaml", tmp_path, {"test": rows}),
          load_mc_dataset(str(piqa), limit=200).examples)
    assert len(load_mc_dataset(str(piqa))) == 1838
    alone = tmp_path / "alone.jsonl"
    alone.write_text(piqa.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="no alone-labels.lst beside alone.jsonl"):
        load_mc_dataset(str(alone))


def test_boolq_takes_lm_evals_prompt(tmp_path):
    boolq = SHARED / "boolq" / "val.jsonl"
    need_shared(boolq)
    rows = [json.loads(line) for line in boolq.read_text().splitlines()[:200]]
    for r in rows:  # the hub's copy (aps/super_glue) has 0/1 labels; this one has "true"/"false"
        r["label"] = int(r["label"] == "true")
    _same(_lm_eval_task(TASKS / "super_glue" / "boolq" / "default.yaml", tmp_path, {"test": rows}),
          load_mc_dataset(str(boolq), limit=200).examples)
    data = load_mc_dataset(str(boolq))
    assert len(data) == 3270 and sum(e.gold for e in data.examples) == 2033  # the README's counts


def test_hellaswag_rows_take_lm_evals_preprocessing(tmp_path):
    """The hub's rows (ctx_a, ctx_b, WikiHow's bracketed tags) through lm-eval's process_docs."""
    rows = [{"ind": 0, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
             "endings": ["is using wrap.", "is ripping  tiles off.", "is holding a cube.", "starts pulling."],
             "label": "3"},
            {"ind": 1, "activity_label": "Home and Garden", "ctx_a": "[header] How to grow roses [title] Pick a spot.",
             "ctx_b": "", "endings": ["[step] Water daily.", "Dig [substeps] a hole.", "Plant it.", "Wait."],
             "label": "0"}]
    task = _lm_eval_task(TASKS / "hellaswag" / "hellaswag.yaml", tmp_path, {"test": rows})
    _same(task, [hellaswag_item(r["ind"], r["activity_label"], r["ctx_a"], r["ctx_b"], r["endings"],
                                int(r["label"])) for r in rows])


def test_hellaswag_in_llama_cpps_text_format():
    hs = SHARED / "hellaswag" / "hellaswag_val_full.txt"
    need_shared(hs)
    data = load_mc_dataset(str(hs))
    lines = hs.read_text().split("\n")
    assert len(data) == 10042 and [sum(e.gold == g for e in data.examples) for g in range(4)] == [2515, 2485, 2584,
                                                                                                 2458]
    first = data.examples[0]
    assert first.context == lines[0] and first.options == tuple(lines[2:6]) and first.gold == int(lines[1])


def test_bad_files_are_one_line(tmp_path):
    odd = tmp_path / "hs.txt"
    odd.write_text("ctx\n1\na\nb\nc\n")
    with pytest.raises(DataError, match="5 lines; llama.cpp's HellaSwag format has 6 a task"):
        load_mc_dataset(str(odd))
    (tmp_path / "test").mkdir()
    bad = tmp_path / "test" / "x_test.csv"
    bad.write_text("q,a,b,c,d,E\n")
    with pytest.raises(DataError, match="row 1: an MMLU row is question,A,B,C,D,answer"):
        load_mc_dataset(str(tmp_path))
    bad.write_text("q,a,b,c,d,A\n")
    with pytest.raises(DataError, match="5-shot needs .*x_dev.csv"):
        load_mc_dataset(str(tmp_path), shots=5)
    with pytest.raises(DataError, match="shots 5 needs a set with a few-shot split"):
        load_mc_dataset(str(odd), shots=5)
    with pytest.raises(DataError, match="unknown multiple-choice dataset 'nope'"):
        load_mc_dataset("nope")


def test_several_sets_pool_with_their_names_and_score_by_set():
    import numpy as np

    from miniature.data.mc import load_mc_sets, set_of
    from miniature.taskdefs import TASKS, Outputs

    arc, hs = SHARED / "arc" / "ARC-Easy-Test.jsonl", SHARED / "hellaswag" / "hellaswag_val_full.txt"
    need_shared(arc, hs)
    pooled = load_mc_sets([str(arc), str(hs)], limit=4)
    assert len(pooled) == 8 and [set_of(i) for i in pooled.ids] == ["ARC-Easy-Test"] * 4 + ["hellaswag_val_full"] * 4
    assert pooled.examples[4].context == load_mc_dataset(str(hs), limit=1).examples[0].context
    assert load_mc_sets([str(arc)], limit=4).ids == load_mc_dataset(str(arc), limit=4).ids  # one set: as it is
    gold = np.array([e.gold for e in pooled.examples])
    acc = gold.copy()
    acc[[0, 5, 6]] = (gold[[0, 5, 6]] + 1) % 2  # wrong on one ARC item and two HellaSwag items
    out = Outputs(tuple(pooled.ids), tuple(map(str, acc)), acc == gold, np.full((8, 4), 0.25), gold,
                  extra={"acc_choice": acc.astype(float), "norm_choice": gold.astype(float),
                         "truncated": np.zeros(8)})
    scores = TASKS.get("multiple_choice").scores(pooled, out)
    assert scores["acc"] == 5 / 8 and scores["acc_norm"] == 1.0
    assert scores["by_set"] == ("ARC-Easy-Test: acc 0.750, acc_norm 1.000 (n 4); "
                                "hellaswag_val_full: acc 0.500, acc_norm 1.000 (n 4)")
    with pytest.raises(DataError, match="share a short name"):
        load_mc_sets([str(arc), str(arc)])
