"""Tiny model build/cache, tokenizer, path resolution and loading."""
from __future__ import annotations

import os
import threading

import pytest
import torch
from lmtest_utils import WORDS

from rllib_istar.lm import (
    ModelLoadError,
    build_tiny_model,
    encode_prompt,
    load_causal_lm,
    load_tokenizer,
    resolve_model_path,
    tiny_model_path,
)
from rllib_istar.lm import tiny as tiny_mod


def _weights(path):
    return {k: v.clone() for k, v in load_causal_lm(path).state_dict().items()}


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_build_is_deterministic(tmp_path, arch):
    a = build_tiny_model(str(tmp_path / "a"), WORDS, arch=arch, hidden_size=32, num_layers=1)
    b = build_tiny_model(str(tmp_path / "b"), list(reversed(WORDS)), arch=arch,
                         hidden_size=32, num_layers=1)
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = build_tiny_model(str(tmp_path / "c"), WORDS, arch=arch, hidden_size=32, num_layers=1,
                         seed=1)
    assert not torch.equal(wa["model.embed_tokens.weight"],
                           _weights(c)["model.embed_tokens.weight"])
    assert os.path.isfile(os.path.join(a, "model.safetensors"))


def test_build_leaves_global_rng_alone(tmp_path):
    before = torch.get_rng_state()
    build_tiny_model(str(tmp_path / "m"), WORDS, hidden_size=32, num_layers=1)
    assert torch.equal(before, torch.get_rng_state())


def test_cached_second_call_does_not_rebuild(monkeypatch):
    first = tiny_model_path(WORDS, hidden_size=32, num_layers=1, seed=7)

    def boom(*a, **k):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(tiny_mod, "build_tiny_model", boom)
    assert tiny_model_path(list(reversed(WORDS)), hidden_size=32, num_layers=1, seed=7) == first
    with pytest.raises(AssertionError, match="rebuilt"):
        tiny_model_path(WORDS, hidden_size=32, num_layers=1, seed=8)


def test_concurrent_builders_agree(tmp_path, monkeypatch):
    monkeypatch.setenv("RLLIB_ISTAR_CACHE", str(tmp_path / "cache"))
    out, errors = [], []

    def run():
        try:
            out.append(tiny_model_path(WORDS, hidden_size=16, num_layers=1, num_heads=2))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(out)) == 1
    entries = os.listdir(tmp_path / "cache")
    assert entries == [os.path.basename(out[0])]  # no temp dirs left behind
    load_causal_lm(out[0])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tokenizer_round_trip_and_unknown(tiny_paths, arch):
    tok = load_tokenizer(tiny_paths[arch])
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)
    assert not getattr(tok, "chat_template", None)
    text = " ".join(WORDS)
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) == len(WORDS) and min(ids) >= 4
    assert tok.decode(ids) == text
    assert tok.decode(tok.encode("red   door\nkey", add_special_tokens=False)) == "red door key"
    unk = tok.encode("red zebra", add_special_tokens=False)
    assert unk[1] == tok.unk_token_id
    door = ids[WORDS.index("door")]
    assert encode_prompt(tok, "red door") == [tok.bos_token_id, ids[0], door]


def test_encode_prompt_uses_chat_template(tiny_path):
    tok = load_tokenizer(tiny_path)
    tok.chat_template = ("{% for m in messages %}<bos> {{ m['content'] }} <eos>{% endfor %}"
                         "{% if add_generation_prompt %} open{% endif %}")
    ids = encode_prompt(tok, "red key")
    assert tok.decode(ids) == "<bos> red key <eos> open"


def test_missing_path_error_names_path(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ModelLoadError) as e:
        resolve_model_path(missing)
    msg = str(e.value)
    assert missing in msg and "'tiny'" in msg and "\n" not in msg
    assert isinstance(e.value, ValueError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        resolve_model_path(str(tmp_path / "empty"))


def test_bad_specs_and_dtype(tiny_path):
    with pytest.raises(ModelLoadError, match="tiny:<arch>"):
        resolve_model_path("tiny:llama:64")
    with pytest.raises(ModelLoadError, match="integers"):
        resolve_model_path("tiny:llama:big:2")
    with pytest.raises(ModelLoadError, match="llama, qwen2"):
        resolve_model_path("tiny:gpt9:64:2")
    with pytest.raises(ModelLoadError, match="float32, bfloat16, float16"):
        load_causal_lm(tiny_path, dtype="float8")
    assert resolve_model_path(tiny_path) == tiny_path
    m = load_causal_lm(tiny_path, dtype="bf16")
    assert {p.dtype for p in m.parameters()} == {torch.bfloat16}


def test_tiny_spec_uses_env_vocabulary(monkeypatch):
    from rllib_istar.envs import registry

    asked = []
    monkeypatch.setattr(registry, "tiny_vocabulary",
                        lambda env_id=None: asked.append(env_id) or ["alpha", "beta"])
    path = resolve_model_path("tiny:qwen2:32:1")
    assert asked == [None]
    assert resolve_model_path("tiny:qwen2:32:1+me/Env-v0") == path and asked[-1] == "me/Env-v0"
    tok = load_tokenizer(path)
    assert len(tok) == 6
    assert tok.decode(tok.encode("beta alpha", add_special_tokens=False)) == "beta alpha"
    cfg = load_causal_lm(path).config
    assert (cfg.model_type, cfg.hidden_size, cfg.num_hidden_layers) == ("qwen2", 32, 1)


def test_real_env_vocabulary_tiny():
    pytest.importorskip("rllib_istar.envs")
    from rllib_istar.envs import all_vocabulary

    path = resolve_model_path("tiny")
    tok = load_tokenizer(path)
    words = all_vocabulary()
    assert len(tok) >= len(set(words))
    assert tok.unk_token_id not in tok.encode(" ".join(words[:50]), add_special_tokens=False)


def test_load_tokenizer_pad_falls_back_to_eos(tmp_path):
    tok = tiny_mod.build_tokenizer(WORDS)
    tok.pad_token = None
    tok.save_pretrained(str(tmp_path))
    loaded = load_tokenizer(str(tmp_path))
    assert loaded.pad_token_id == loaded.eos_token_id == 3


def test_tiny_spec_with_an_unknown_env_is_one_line():
    from rllib_istar.lm.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="names env 'nope/X-v0', which is not registered"):
        resolve_model_path("tiny+nope/X-v0")
