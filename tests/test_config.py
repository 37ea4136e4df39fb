"""Typed config: defaults are the paper's recipe; unknown keys and bad values named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from miniature.config import QAConfig, load_config, parse_config
from miniature.exceptions import ConfigError


def test_paper_recipe_defaults():
    q = QAConfig()
    assert (q.seed, q.epochs, q.learning_rate, q.batch_size, q.warmup_ratio) == (42, 3.0, 3e-5, 32, 0.1)
    assert (q.max_seq_length, q.doc_stride, q.max_query_length) == (384, 128, 64)
    assert (q.n_best_size, q.max_answer_length, q.null_score_diff_threshold) == (20, 30, 0.0)


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("models: [minilm, {name: bert-tiny, label: tiny}]\nqa: {epochs: 2}\n")
    cfg = load_config(p, ["qa.learning_rate=1e-4", "data.dev_limit=50", "run_dir=/tmp/x"])
    assert cfg.qa.epochs == 2 and cfg.qa.learning_rate == 1e-4 and cfg.data.dev_limit == 50
    assert [m.display for m in cfg.models] == ["minilm", "tiny"]


def test_overrides_index_lists(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("models: [minilm, {from: minilm, method: layers, params: {keep: [0, 1]}}]\n")
    cfg = load_config(p, ["models.1.recovery_steps=5", "models.0.label=big", "models.1.from=big",
                          "models.1.params.keep=[2]"])
    assert cfg.models[0].display == "big" and cfg.models[0].name == "minilm"
    assert cfg.models[1].recovery_steps == 5 and cfg.models[1].params == {"keep": [2]}
    for bad, message in [("models.2.label=x", "not an item of a list of 2; index it from 0 to 1"),
                         ("models.first.label=x", "not an item of a list"),
                         ("models.1.method.x=1", "'models.1.method' is not a section")]:
        with pytest.raises(ConfigError, match=message):
            load_config(p, [bad])


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"models": ["a"], "qa": {"lr": 1}}, "unknown config key 'qa.lr'"),
        ({"models": ["a"], "colour": 1}, "unknown config key 'colour'"),
        ({}, "'models' is required"),
        ({"models": ["a"], "qa": {"doc_stride": 500}}, "doc_stride"),
        ({"models": ["a"], "qa": {"batch_size": 0}}, "qa.batch_size"),
    ],
)
def test_bad_configs(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "b.yaml").write_text("models: [a\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("models: [a]\n")
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_config(tmp_path / "c.yaml", ["qa.epochs"])


def test_paper_config_is_the_papers_study():
    """configs/paper.yaml: the six models of Table 1 (large first), SQuAD 2.0, NewsQA, IMDB with
    1,000 attacked reviews, K = 10 everywhere, BERT-base's MLM as the attack model."""
    from miniature.config import load_config
    from miniature.zoo import resolve_model

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "paper.yaml")
    assert [resolve_model(m.name).source for m in cfg.models] == [
        "google-bert/bert-large-uncased", "google-bert/bert-base-uncased", "distilbert/distilbert-base-uncased",
        "google/bert_uncased_L-8_H-512_A-8", "google/bert_uncased_L-4_H-256_A-4", "google/bert_uncased_L-2_H-128_A-2"]
    assert cfg.characteristics == ["errors", "representation", "distribution", "adversarial"]
    assert (cfg.data.train, cfg.data.dev, cfg.distribution.test) == ("squad_v2", "squad_v2", "newsqa")
    assert cfg.data.train_limit is None and cfg.data.dev_limit is None
    assert cfg.representation.table_k == cfg.distribution.k == 10
    assert (cfg.qa.epochs, cfg.qa.learning_rate, cfg.qa.batch_size, cfg.qa.max_seq_length) == (3, 3e-5, 32, 384)
    assert (cfg.classification.test_limit, cfg.adversarial.candidates, cfg.classification.train) == (1000, "mlm", "imdb")
    assert resolve_model(cfg.adversarial.attack_model).source == "google-bert/bert-base-uncased"


def test_a_config_pickles_to_an_equal_config():
    """The config class with the plug-ins' sections is built at run time; a config still pickles
    (to go to another process) and comes back equal, sections, aliases and paths included."""
    import pickle

    from miniature.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml",
                      ["models.0.finetuned_for=[qa]", "cka.k=5", "representation.ks=[1,3]"])
    back = pickle.loads(pickle.dumps(cfg))
    assert back == cfg and type(back) is type(cfg)
    assert back.models[1].from_ == "MiniLM-L6" and back.cka.k == 5 and back.run_dir == cfg.run_dir


def test_moved_keys_are_read_at_their_new_place(tmp_path):
    """The classification data keys moved from `adversarial` to `classification`; configs that
    still give them under `adversarial` (in the file or by --set) read the same, the checkpoint's
    cache key ignores them as it did, and a key given at both places with two values is refused."""
    from miniature.config import ClassificationConfig

    new = {"models": ["minilm"], "classification": {"train": "a.jsonl", "train_limit": 6, "test": "b.jsonl",
                                                     "test_limit": 4, "sample_seed": 7, "max_steps": 3}}
    old = {"models": ["minilm"], "classification": {"max_steps": 3},
           "adversarial": {"train": "a.jsonl", "train_limit": 6, "test": "b.jsonl", "n_examples": 4, "seed": 7,
                           "k": 8}}
    want = parse_config(new).classification
    assert parse_config(old).classification == want and parse_config(old).adversarial.k == 8
    p = tmp_path / "c.yaml"
    p.write_text("models: [minilm]\n")
    assert load_config(p, ["adversarial.n_examples=4"]).classification.test_limit == 4
    # the fine-tuned weights' key: the training knobs only, as before the move (data by fingerprint)
    assert set(want.training_fields()) == {"seed", "epochs", "max_steps", "learning_rate", "batch_size",
                                           "gradient_accumulation_steps", "warmup_ratio", "weight_decay",
                                           "max_length", "num_labels", "precision"}
    assert ClassificationConfig(train="x").training_fields() == ClassificationConfig().training_fields()
    assert parse_config({**old, "classification": {"test_limit": 4}}).classification.test_limit == 4  # same value
    with pytest.raises(ConfigError, match="classification is not a section"):
        parse_config({**old, "classification": "foo"})
    with pytest.raises(ConfigError, match=r"^config: adversarial.n_examples is the old name of "
                                          r"classification.test_limit, and both are given with different values"):
        parse_config({**old, "classification": {"test_limit": 5}})
