"""The tiny byte-level BPE model: deterministic build, real-style tokenizer, ChatML prompt."""
from __future__ import annotations

import os

import pytest
from lmtest_utils import WORDS, bpe_model_path

from rllib_istar.envs.key_corridor import KeyCorridorEnv
from rllib_istar.lm import encode_prompt, load_causal_lm, load_tokenizer
from rllib_istar.lm.tiny_bpe import (
    DEFAULT_SYSTEM,
    build_tiny_bpe_model,
    tiny_bpe_model_path,
)

BOS, EOS, PAD = 1, 2, 0  # <|im_start|>, <|im_end|>, <|endoftext|>


@pytest.fixture(scope="module")
def path():
    return bpe_model_path()


@pytest.fixture(scope="module")
def tok(path):
    return load_tokenizer(path)


def _read(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


def test_build_is_deterministic_by_seed(tmp_path):
    a = build_tiny_bpe_model(str(tmp_path / "a"), WORDS, hidden_size=32, seed=3)
    b = build_tiny_bpe_model(str(tmp_path / "b"), list(reversed(WORDS)), hidden_size=32, seed=3)
    c = build_tiny_bpe_model(str(tmp_path / "c"), WORDS, hidden_size=32, seed=4)
    for name in ("tokenizer.json", "model.safetensors", "config.json", "chat_template.jinja"):
        assert _read(a, name) == _read(b, name), name  # word order does not matter
    assert _read(a, "tokenizer.json") == _read(c, "tokenizer.json")  # the seed is the weights'
    assert _read(a, "model.safetensors") != _read(c, "model.safetensors")


def test_cache_folder_is_named_by_the_spec():
    p = tiny_bpe_model_path(WORDS, hidden_size=32)
    assert tiny_bpe_model_path(list(reversed(WORDS)), hidden_size=32) == p
    assert os.path.basename(os.path.dirname(p)) == "tiny_bpe"
    assert tiny_bpe_model_path(WORDS, hidden_size=32, seed=1) != p
    with pytest.raises(ValueError, match="arch"):
        tiny_bpe_model_path(WORDS, arch="gpt9")
    with pytest.raises(ValueError, match="vocab_size"):
        tiny_bpe_model_path(WORDS, vocab_size=100)


def test_special_tokens_and_model_ids_agree(path, tok):
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|im_start|>", "<|im_end|>",
                                                            "<|endoftext|>")
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (BOS, EOS, PAD)
    model = load_causal_lm(path)
    assert model.config.eos_token_id == model.generation_config.eos_token_id == EOS
    assert model.config.pad_token_id == PAD and model.config.bos_token_id == BOS
    assert model.config.vocab_size == len(tok) <= 512


def test_non_ascii_round_trip_without_unknown_tokens(tok):
    text = "héllo wörld — 日本語 🙂 Ünïcödé\t<action>öffne</action>\n"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    assert PAD not in ids  # <|endoftext|> doubles as unk: byte-level never needs it


def test_actions_are_multi_token_and_merges_are_real(tok):
    actions = ["red", "green", "blue", "forward", "open"]
    assert set(actions) <= set(KeyCorridorEnv.vocabulary())
    for a in actions:
        ids = tok.encode(f"<action>{a}</action>", add_special_tokens=False)
        assert len(ids) >= 7, (a, tok.convert_ids_to_tokens(ids))  # < action > a </ action >
    assert tok.convert_ids_to_tokens(tok.encode("<action>", add_special_tokens=False)) == [
        "<", "action", ">"]
    # BPE, not word-level: some env words split, and a leading space changes the merge
    assert any(len(tok.encode(" " + w, add_special_tokens=False)) > 1
               for w in KeyCorridorEnv.vocabulary())
    assert tok.encode("red", add_special_tokens=False) != tok.encode(" red",
                                                                      add_special_tokens=False)


def test_chat_template_renders_smollm2_chatml(tok):
    user = [{"role": "user", "content": "open the door"}]
    text = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert text == (f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
                    "<|im_start|>user\nopen the door<|im_end|>\n<|im_start|>assistant\n")
    custom = [{"role": "system", "content": "be brief"}] + user
    assert tok.apply_chat_template(custom, tokenize=False, add_generation_prompt=False) == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nopen the door<|im_end|>\n")
    ids = tok.encode(text, add_special_tokens=False)
    assert ids.count(BOS) == 3 and ids.count(EOS) == 2  # specials are single tokens


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_encode_prompt_starts_with_one_bos_and_ends_with_the_assistant_header(arch):
    tok = load_tokenizer(bpe_model_path(arch=arch, hidden_size=32))
    ids = encode_prompt(tok, "go forward")
    header = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    assert ids[0] == BOS and ids[1] != BOS  # no duplicated BOS
    assert ids[-len(header):] == header and header[0] == BOS
    assert ids == tok.encode(tok.decode(ids), add_special_tokens=False)
    assert tok.encode("go", add_special_tokens=True) == tok.encode("go", add_special_tokens=False)
    with_prefix = encode_prompt(tok, "go forward", "<action>")
    assert with_prefix[:len(ids)] == ids and tok.decode(with_prefix[len(ids):]) == "<action>"
