"""The real-tokenizer path, on the tiny byte-level BPE model (``lm/tiny_bpe.py``).

What a word-level tokenizer cannot show: multi-token actions, sampled ids that
re-tokenise differently, ChatML prompts with special tokens, stop strings split
across tokens. Generation is made hand-checkable by *forcing* tokens: a logits
processor appended after the generator's log-prob capture (so every forced token
still gets the model's own log-prob) makes row i emit ``script[i]``, then EOS.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from doubles.episodes import token_episode
from lmtest_utils import bpe_model_path, right_pad

from rllib_istar import columns as C
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
from rllib_istar.lm import (
    compute_token_logprobs,
    encode_prompt,
    load_causal_lm,
    load_tokenizer,
)
from rllib_istar.rollout.generation import (
    GenerationResult,
    HFGenerator,
    VLLMGenerator,
    cut_response,
    make_generator,
    text_decoder,
)

PAD, BOS, EOS = 0, 1, 2  # <|endoftext|>, <|im_start|>, <|im_end|>
GAP = 1e-5  # rollout vs learner log-prob tolerance, float32
TEXTS = ["red", "open the red door now then go forward twice", "go forward",
         "take the key matching the door then go forward and open it"]


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: these matmuls are tiny, and on a busy box two threads spin
    against each other (~100x slower generation)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def path():
    return bpe_model_path()


@pytest.fixture(scope="module")
def tok(path):
    return load_tokenizer(path)


@pytest.fixture(scope="module")
def model(path):
    return load_causal_lm(path, dtype="float32")


def pieces(tok, *tokens: str) -> list[int]:
    """Vocabulary tokens (ByteLevel spelling, e.g. ``"Ġ"`` for a space) -> ids."""
    ids = tok.convert_tokens_to_ids(list(tokens))
    assert PAD not in ids, f"not in the vocabulary: {tokens}"  # unknown tokens map to 0
    return ids


def byte_tokens(tok, text: str) -> list[int]:
    """``text`` spelled one byte per token (BPE would merge most of it)."""
    from tokenizers.pre_tokenizers import ByteLevel

    return pieces(tok, *[t for t, _ in ByteLevel(add_prefix_space=False,
                                                 use_regex=False).pre_tokenize_str(text)][0])


class ForceTokens:
    """Logits processor: at step t row i may only emit ``scripts[i][t]`` (EOS after)."""

    def __init__(self, scripts, prompt_width):
        self.scripts, self.prompt_width = scripts, prompt_width

    def __call__(self, input_ids, scores):
        t = input_ids.shape[1] - self.prompt_width
        forced = torch.full_like(scores, float("-inf"))
        for i, script in enumerate(self.scripts):
            forced[i, script[t] if t < len(script) else EOS] = 0.0
        return forced


def force(monkeypatch, model, scripts_for):
    """Make ``model.generate`` emit ``scripts_for(batch_size)``; returns the list every
    call's ``(prompt width, output sequences)`` is appended to."""
    real, calls = model.generate, []

    def generate(*args, **kwargs):
        ids = kwargs["input_ids"]
        kwargs["logits_processor"].append(ForceTokens(scripts_for(ids.shape[0]), ids.shape[1]))
        out = real(*args, **kwargs)
        calls.append((ids.shape[1], out.sequences))
        return out

    monkeypatch.setattr(model, "generate", generate)
    return calls


def learner_gap(model, prompts, results, temperature=1.0) -> float:
    """max |rollout logp - compute_token_logprobs(prompt ++ response)| over responses."""
    ids, mask = right_pad([p + r.response_ids for p, r in zip(prompts, results)], PAD)
    with torch.no_grad():
        lp = compute_token_logprobs(model, ids, mask, temperature=temperature)
    return max(float((torch.tensor(r.logp) - lp[i, len(p):len(p) + len(r.response_ids)])
                     .abs().max()) for i, (p, r) in enumerate(zip(prompts, results)))


# ------------------------------------------------------- cut_response, by hand
PIECES = {1: "ok ", 2: "</", 3: "act", 4: "ion", 5: ">", 6: " more", 7: "x</action>y",
          8: "</ac", 9: "tion>!", 9999: "<EOS>"}


def toy_decode(ids):
    return "".join(PIECES[i] for i in ids)


def cut(ids, stops=("</action>",), eos=(9999,)):
    return cut_response(ids, [-0.5 * (k + 1) for k in range(len(ids))], eos, stops, toy_decode)


def test_cut_at_a_stop_string_split_across_tokens():
    assert cut([1, 2, 3, 4, 5, 6, 6]) == GenerationResult([1, 2, 3, 4, 5],
                                                          [-0.5, -1.0, -1.5, -2.0, -2.5], "stop")
    assert cut([8, 9, 6]).response_ids == [8, 9]  # the completing token runs past: kept whole


def test_cut_at_a_stop_string_inside_one_longer_token():
    assert cut([1, 7, 6]) == GenerationResult([1, 7], [-0.5, -1.0], "stop")


def test_eos_and_stop_string_whichever_comes_first():
    assert cut([1, 9999, 2, 3, 4, 5]) == GenerationResult([1, 9999], [-0.5, -1.0], "stop")
    assert cut([2, 3, 4, 5, 9999]).response_ids == [2, 3, 4, 5]  # the EOS after is dropped
    assert cut([1, 6, 9999], stops=()).response_ids == [1, 6, 9999]


def test_no_eos_and_no_stop_string_is_length():
    assert cut([1, 2, 3, 6]) == GenerationResult([1, 2, 3, 6], [-0.5, -1.0, -1.5, -2.0], "length")
    assert cut([]) == GenerationResult([], [], "length")


def test_the_earliest_of_several_stop_strings_wins():
    assert cut([1, 6, 2, 3, 4, 5], stops=("</action>", "ore")).response_ids == [1, 6]
    assert cut([1, 6, 2, 3, 4, 5], stops=("ore", "</action>")).response_ids == [1, 6]


def test_cut_response_rejects_bad_arguments():
    with pytest.raises(ValueError, match="decode"):
        cut_response([1], [0.0], [9999], ["x"])
    with pytest.raises(ValueError, match="non-empty"):
        cut([1], stops=("",))
    with pytest.raises(ValueError, match="log-probs"):
        cut_response([1, 2], [0.0], [9999])


def test_cut_on_byte_tokens_of_a_multi_byte_character(tok):
    """'é' is two byte tokens: the first decodes to a replacement character only."""
    ids = byte_tokens(tok, "ab é cd")
    assert len(ids) == 8  # a b space 0xC3 0xA9 space c d
    res = cut_response(ids, [0.0] * 8, {EOS}, ["é"], text_decoder(tok))
    assert res.response_ids == ids[:5] and res.finish_reason == "stop"


# ------------------------------------------------------------ HF generation
def test_prompts_are_chatml_with_one_bos_and_different_lengths(tok):
    header = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    prompts = [encode_prompt(tok, t) for t in TEXTS]
    assert len({len(p) for p in prompts}) == len(prompts)
    for p, text in zip(prompts, TEXTS):
        assert p[0] == BOS and p[1] != BOS and p.count(BOS) == 3  # system, user, assistant
        assert p[-len(header):] == header
        assert tok.decode(p).endswith(f"<|im_start|>user\n{text}<|im_end|>\n"
                                      "<|im_start|>assistant\n")


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0)])
def test_rollout_logp_match_the_learner_on_a_left_padded_batch(model, tok, temperature, top_p):
    """Free sampling, prompts of 4 lengths (left-padded by up to ~30 tokens), 24 tokens."""
    gen = HFGenerator(model, tok)
    prompts = [encode_prompt(tok, t) for t in TEXTS]
    res = gen.generate(prompts, max_new_tokens=24, temperature=temperature, top_p=top_p, seed=5)
    assert sum(len(r.response_ids) for r in res) > 2 * len(res)  # multi-token responses
    gap = learner_gap(model, prompts, res, temperature if temperature > 0 else 1.0)
    assert gap <= GAP, gap


def test_stop_strings_are_the_pure_cut_of_the_same_unstopped_sampling(model, tok, monkeypatch):
    """Same seed with and without stop strings: transformers' StopStringCriteria only
    ends rows early; each result is ``cut_response`` of the unstopped one, and the
    padding written after an early-stopped row never reaches the response."""
    stops = ["a", "e"]
    prompts = [encode_prompt(tok, t) for t in TEXTS] * 2
    plain = HFGenerator(model, tok).generate(prompts, max_new_tokens=16, seed=7)
    gen = HFGenerator(model, tok, stop_strings=stops)
    assert gen._stop_criteria is not None  # transformers' own criterion, not the fallback
    real, seqs = model.generate, []
    monkeypatch.setattr(model, "generate", lambda *a, **k: seqs.append(real(*a, **k)) or seqs[-1])
    stopped = gen.generate(prompts, max_new_tokens=16, seed=7)
    width = max(len(p) for p in prompts)
    early = 0
    for i, (a, b) in enumerate(zip(plain, stopped)):
        assert b == cut_response(a.response_ids, a.logp, {EOS}, stops, gen.decode)
        text = tok.decode(b.response_ids)
        if b.finish_reason == "stop" and b.response_ids[-1] != EOS:
            assert any(s in text for s in stops)
            assert not any(s in tok.decode(b.response_ids[:-1]) for s in stops)
            tail = seqs[0].sequences[i, width + len(b.response_ids):]
            early += int(tail.numel() > 0)
            assert (tail == PAD).all()  # transformers padded the row it stopped
    assert early >= 2


def test_forced_responses_eos_stop_strings_and_length(model, tok, monkeypatch):
    """Four rows, four endings, on prompts of different lengths:
    0: '</action>' spelled one byte per token, then more -> cut right after '>';
    1: the stop 'hin' inside the single token 'think' -> cut after that token;
    2: EOS before a stop string -> cut after the EOS;
    3: neither -> max_new_tokens (12), 'length'."""
    close = byte_tokens(tok, "</action>")
    scripts = [pieces(tok, "Ġdoor") + close + pieces(tok, "Ġdoor", "Ġthe"),
               pieces(tok, "Ġthe", "think", "Ġdoor"),
               pieces(tok, "Ġdoor") + [EOS] + close,
               pieces(tok, "Ġdoor", "Ġthe") * 6]
    calls = force(monkeypatch, model, lambda n: scripts)
    gen = HFGenerator(model, tok, stop_strings=["</action>", "hin"])
    prompts = [encode_prompt(tok, t) for t in TEXTS]
    res = gen.generate(prompts, max_new_tokens=12, seed=0)
    assert res[0] == GenerationResult(scripts[0][:10], res[0].logp, "stop")
    assert tok.decode(res[0].response_ids) == " door</action>"
    assert res[1].response_ids == scripts[1][:2] and res[1].finish_reason == "stop"
    assert res[2].response_ids == scripts[2][:2] and res[2].finish_reason == "stop"
    assert res[3].response_ids == scripts[3] and res[3].finish_reason == "length"
    assert all(len(r.logp) == len(r.response_ids) for r in res)
    (width, seqs), = calls
    assert seqs.shape[1] == width + 12
    assert seqs[0, width + 10:].tolist() == [PAD, PAD]  # transformers stopped row 0 early
    assert seqs[2, width + 2:].tolist() == [PAD] * 10  # and row 2 at its EOS
    assert learner_gap(model, prompts, res) <= GAP


def test_a_stop_string_straddling_the_prompt_end_never_leaks_padding(model, tok, monkeypatch):
    """transformers' criterion also reads the prompt: prompt '...</act' + response
    'ion>' stops the row. The response text alone holds no stop string, yet the row
    ends there ("stop") and the padding generate wrote after it stays out."""
    prompts = [encode_prompt(tok, "go") + byte_tokens(tok, "</act"), encode_prompt(tok, "red")]
    scripts = [byte_tokens(tok, "ion> more"), pieces(tok, "Ġdoor") * 8]
    calls = force(monkeypatch, model, lambda n: scripts)
    res = HFGenerator(model, tok, stop_strings=["</action>"]).generate(
        prompts, max_new_tokens=8, seed=0)
    assert res[0] == GenerationResult(byte_tokens(tok, "ion>"), res[0].logp, "stop")
    assert len(res[0].logp) == 4
    assert res[1] == GenerationResult(scripts[1], res[1].logp, "length")
    (width, seqs), = calls
    assert seqs[0, width + 4:].tolist() == [PAD] * 4


def test_word_level_tokenizer_stops_by_the_cut_alone(tiny_path):
    """transformers' criterion cannot clean a word-level vocab: no early stop, same cut."""
    tok, model = load_tokenizer(tiny_path), load_causal_lm(tiny_path, dtype="float32")
    prompts = [encode_prompt(tok, t) for t in ["red", "red door key open", "blue green"]] * 2
    plain = HFGenerator(model, tok).generate(prompts, max_new_tokens=12, seed=3)
    gen = make_generator("hf", model=model, tokenizer=tok, stop_strings=["door", "key"])
    assert gen._stop_criteria is None and gen.stop_strings == ("door", "key")
    stopped = gen.generate(prompts, max_new_tokens=12, seed=3)
    eos = {tok.eos_token_id}
    assert stopped == [cut_response(a.response_ids, a.logp, eos, ["door", "key"], gen.decode)
                       for a in plain]
    assert any(tok.decode(r.response_ids).endswith(("door", "key")) for r in stopped)


def test_vllm_gets_stop_strings_and_its_ids_are_cut_the_same_way(tok):
    params_seen = []

    class SP(SimpleNamespace):
        def __init__(self, **kw):
            super().__init__(**kw)
            params_seen.append(kw)

    ids = pieces(tok, "Ġdoor") + byte_tokens(tok, "</action>") + pieces(tok, "Ġthe")
    out = SimpleNamespace(outputs=[SimpleNamespace(
        token_ids=ids, finish_reason="stop",
        logprobs=[{t: SimpleNamespace(logprob=-1.0)} for t in ids])])
    llm = SimpleNamespace(generate=lambda inputs, params, use_tqdm: [out])
    gen = VLLMGenerator(llm, eos_token_ids=[EOS], stop_strings=["</action>"],
                        decode=text_decoder(tok),
                        sampling_params_cls=SP, tokens_prompt_cls=dict)
    (res,) = gen.generate([[BOS, 5]], max_new_tokens=16)
    assert params_seen[0]["stop"] == ["</action>"]
    assert params_seen[0]["include_stop_str_in_output"] is True
    assert params_seen[0]["stop_token_ids"] == [EOS]
    assert res.response_ids == ids[:-1] and res.finish_reason == "stop"


# ----------------------------------------------------- rows and the env runner
def test_rows_keep_sampled_ids_that_retokenise_differently(model, tok, monkeypatch):
    """Byte-by-byte responses decode to text whose encoding merges differently; the
    rows hold the sampled ids, the mask covers exactly response + EOS."""
    texts = [" red door", " open the door"]
    scripts = [byte_tokens(tok, t) for t in texts]
    for s, t in zip(scripts, texts):
        assert tok.encode(tok.decode(s), add_special_tokens=False) != s  # premise
    force(monkeypatch, model, lambda n: scripts)
    prompts = [encode_prompt(tok, t) for t in TEXTS[:2]]
    res = HFGenerator(model, tok).generate(prompts, max_new_tokens=20, seed=1)
    assert [r.response_ids for r in res] == [s + [EOS] for s in scripts]
    eps = [token_episode("g", 1.0, [(prompts[0], res[0].response_ids, res[0].logp),
                                    (prompts[1], res[1].response_ids, res[1].logp)])]
    rows = episodes_to_rows(eps, pad_id=PAD)
    ids, mask, resp = rows[C.INPUT_IDS], rows[C.ATTENTION_MASK], rows[C.RESPONSE_MASK]
    width = ids.shape[1]
    for i, (p, r) in enumerate(zip(prompts, res)):
        n = len(p) + len(r.response_ids)
        assert ids[i, :n].tolist() == p + r.response_ids
        assert resp[i].tolist() == [0.0] * len(p) + [1.0] * len(r.response_ids) + [0.0] * (width - n)
        assert mask[i].tolist() == [1] * n + [0] * (width - n)
        assert rows[C.ROLLOUT_LOGP][i, len(p):n].tolist() == pytest.approx(r.logp, abs=0)
    with torch.no_grad():
        lp = compute_token_logprobs(model, ids, mask)
    assert float(((lp - rows[C.ROLLOUT_LOGP]) * resp).abs().max()) <= GAP


def _runner(path, **knobs):
    from rllib_istar import IStarConfig
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    settings = dict(group_size=2, num_groups=1, max_new_tokens=48, advantage_estimator="rloo",
                    model_path=path, model_dtype="float32")
    settings.update(knobs)
    config = (IStarConfig().environment("rllib_istar/KeyCorridor-v0",
                                        env_config={"action_format": "tags", "max_steps": 2})
              .training(**settings))
    return LLMEnvRunner(config=config, worker_index=0)


def test_env_runner_multi_token_actions_stop_strings_and_rows(path, monkeypatch):
    """Through a real LLMEnvRunner on the BPE folder: every response is
    '<think> </think> <action>red</action> trailing', one byte per token; with the
    stop string '</action>' it ends right after '>'. The env parses the multi-token
    action, the episode keeps the sampled ids, the rows mask exactly the response,
    and the learner's log-probs match the rollout's."""
    runner = _runner(path, stop_strings=["</action>"])
    tok = runner.tokenizer
    action = "<think> </think> <action>red</action>"
    script = byte_tokens(tok, action + " trailing")
    force(monkeypatch, runner.generator.model, lambda n: [script] * n)
    episodes = runner.sample()
    assert len(episodes) == 2
    for ep in episodes:
        assert ep.get_extra_model_outputs(C.ACTION_VALID)[0] is True  # 'red' picks the key
        for t, prompt in enumerate(ep.get_extra_model_outputs(C.PROMPT_IDS)):
            assert list(ep.get_extra_model_outputs(C.RESPONSE_IDS)[t]) == byte_tokens(tok, action)
            assert ep.get_actions()[t] == action
            assert prompt[0] == BOS and prompt[1] != BOS
    rows = episodes_to_rows(episodes, pad_id=tok.pad_token_id)
    resp, ids, mask = rows[C.RESPONSE_MASK], rows[C.INPUT_IDS], rows[C.ATTENTION_MASK]
    prompt_lens = [len(p) for ep in episodes for p in ep.get_extra_model_outputs(C.PROMPT_IDS)]
    assert len(set(prompt_lens)) > 1  # the second step's prompt carries history
    n_resp = len(byte_tokens(tok, action))
    for i, p in enumerate(prompt_lens):
        assert resp[i].nonzero().flatten().tolist() == list(range(p, p + n_resp))
        assert int(mask[i].sum()) == p + n_resp
    with torch.no_grad():
        lp = compute_token_logprobs(runner.generator.model, ids, mask)
    assert float(((lp - rows[C.ROLLOUT_LOGP]) * resp).abs().max()) <= GAP
