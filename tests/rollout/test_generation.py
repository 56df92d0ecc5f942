"""HFGenerator / VLLMGenerator: batching, EOS cut, seeding, rollout-vs-learner log-probs."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lmtest_utils import right_pad

from rllib_istar.lm import encode_prompt, load_tokenizer
from rllib_istar.rollout.generation import (
    GenerationResult,
    HFGenerator,
    VLLMGenerator,
    cut_at_eos,
    make_generator,
)

TEXTS = ["red", "red door key open", "blue green", "forward forward key door red left right"]


@pytest.fixture
def policy(tiny_path, build_module):
    mod = build_module(tiny_path)
    mod.eval()
    return mod


@pytest.fixture
def gen(policy, tiny_path):
    return HFGenerator(policy.lm, load_tokenizer(tiny_path))


def prompts(gen):
    return [encode_prompt(gen.tokenizer, t) for t in TEXTS]


def test_cut_at_eos():
    stop = GenerationResult([5, 3], [-1.0, -2.0], "stop")
    assert cut_at_eos([5, 3, 7], [-1.0, -2.0, -3.0], {3}) == stop
    assert cut_at_eos([5, 6], [-1.0, -2.0], {3}) == GenerationResult([5, 6], [-1.0, -2.0], "length")


def test_one_batched_call_and_eos_cut(gen, monkeypatch):
    calls = []
    real = gen.model.generate
    monkeypatch.setattr(gen.model, "generate", lambda *a, **k: calls.append(k) or real(*a, **k))
    ps = prompts(gen) * 4
    res = gen.generate(ps, max_new_tokens=24, seed=3)
    assert len(calls) == 1 and calls[0]["input_ids"].shape[0] == len(ps)
    assert len(res) == len(ps)
    eos = gen.tokenizer.eos_token_id
    reasons = {r.finish_reason for r in res}
    assert reasons == {"stop", "length"}  # this seed exercises both
    for r in res:
        assert 1 <= len(r.response_ids) <= 24 and len(r.logp) == len(r.response_ids)
        assert eos not in r.response_ids[:-1]
        assert (r.response_ids[-1] == eos) == (r.finish_reason == "stop")
        assert r.finish_reason == "stop" or len(r.response_ids) == 24
        assert all(lp <= 0 for lp in r.logp)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.3, 0.9), (0.0, 1.0)])
def test_rollout_logp_match_learner(gen, policy, temperature, top_p):
    """The rollout-vs-learner gap: generation log-probs == token_logprobs on prompt++response."""
    ps = prompts(gen)
    res = gen.generate(ps, max_new_tokens=16, temperature=temperature, top_p=top_p, seed=11)
    rows = [p + r.response_ids for p, r in zip(ps, res)]
    ids, mask = right_pad(rows)
    with torch.no_grad():
        lp = policy.token_logprobs(ids, mask, temperature=temperature if temperature > 0 else 1.0)
    for i, (p, r) in enumerate(zip(ps, res)):
        learner = lp[i, len(p):len(p) + len(r.response_ids)]
        torch.testing.assert_close(torch.tensor(r.logp), learner, atol=1e-4, rtol=0)


def test_seeded_generation_reproducible_and_rng_untouched(gen):
    ps = prompts(gen)
    before = torch.get_rng_state()
    a = gen.generate(ps, max_new_tokens=12, seed=5)
    b = gen.generate(ps, max_new_tokens=12, seed=5)
    assert torch.equal(before, torch.get_rng_state())
    assert a == b
    c = gen.generate(ps, max_new_tokens=12, seed=6)
    assert [r.response_ids for r in c] != [r.response_ids for r in a]
    g1 = gen.generate(ps, max_new_tokens=12, temperature=0.0)
    assert g1 == gen.generate(ps, max_new_tokens=12, temperature=0.0, seed=99)


def test_checkpoint_sampling_defaults_are_ignored(gen):
    ps = prompts(gen)
    plain = gen.generate(ps, max_new_tokens=12, seed=2)
    gc = gen.model.generation_config
    gc.top_k, gc.repetition_penalty, gc.min_new_tokens = 1, 3.0, 10
    try:
        assert gen.generate(ps, max_new_tokens=12, seed=2) == plain
    finally:
        gc.top_k, gc.repetition_penalty, gc.min_new_tokens = None, None, None
    assert gen.model.generation_config is gc


def test_bad_inputs_and_backends(gen, tiny_path):
    with pytest.raises(ValueError, match="empty"):
        gen.generate([[2], []], max_new_tokens=4)
    with pytest.raises(ValueError, match="hf, vllm"):
        make_generator("sglang", model_path=tiny_path)
    g = make_generator("hf", model_path=tiny_path, dtype="float32")
    assert isinstance(g, HFGenerator) and len(g.generate([[2, 4]], max_new_tokens=3)) == 1


def test_hf_load_weights(gen, policy):
    state = policy.get_state()
    key = "lm.model.norm.weight"
    state[key] = state[key] * 0 + 2.0
    gen.load_weights(state)
    assert torch.all(gen.model.model.norm.weight == 2.0)
    with pytest.raises(KeyError):
        gen.load_weights({"lm.nope": torch.zeros(1)})


# ------------------------------------------------------------------ fake vLLM
class FakeSamplingParams:
    def __init__(self, max_tokens=16, temperature=1.0, top_p=1.0, seed=None, logprobs=None,
                 stop_token_ids=None):
        self.__dict__.update(max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                             seed=seed, logprobs=logprobs, stop_token_ids=stop_token_ids)


class FakeTokensPrompt(dict):
    def __init__(self, prompt_token_ids):
        super().__init__(prompt_token_ids=prompt_token_ids)


class FakeLLM:
    """Mimics ``vllm.LLM.generate(prompts, sampling_params, use_tqdm=...)`` outputs."""

    def __init__(self, script):
        self.script, self.calls, self.loaded, self.resets = script, [], None, 0
        runner = SimpleNamespace(model=SimpleNamespace(load_weights=self._load))
        self.llm_engine = SimpleNamespace(model_executor=SimpleNamespace(
            driver_worker=SimpleNamespace(model_runner=runner)))

    def _load(self, weights):
        self.loaded = dict(weights)

    def reset_prefix_cache(self):
        self.resets += 1

    def generate(self, prompts, sampling_params, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        outs = []
        for ids, reason in self.script[:len(prompts)]:
            lps = [{t: SimpleNamespace(logprob=-0.1 * (j + 1))} for j, t in enumerate(ids)]
            outs.append(SimpleNamespace(outputs=[SimpleNamespace(
                token_ids=tuple(ids), logprobs=lps, finish_reason=reason)]))
        return outs


def test_vllm_generator_with_fake_engine():
    llm = FakeLLM([([5, 6, 3], "stop"), ([7, 8, 9], "length"), ([4, 4], "stop")])
    g = VLLMGenerator(llm, eos_token_ids=[3], sampling_params_cls=FakeSamplingParams,
                      tokens_prompt_cls=FakeTokensPrompt)
    res = g.generate([[2, 4], [2], [2, 5]], max_new_tokens=3, temperature=0.7, top_p=0.9, seed=10)
    (inputs, params), = llm.calls
    assert [p["prompt_token_ids"] for p in inputs] == [[2, 4], [2], [2, 5]]
    assert [p.seed for p in params] == [10, 11, 12]  # distinct per prompt
    assert all(p.logprobs == 0 and p.max_tokens == 3 and p.temperature == 0.7
               and p.top_p == 0.9 and p.stop_token_ids == [3] for p in params)
    assert res[0] == GenerationResult([5, 6, 3], pytest.approx([-0.1, -0.2, -0.3]), "stop")
    assert res[1].finish_reason == "length" and res[1].response_ids == [7, 8, 9]
    assert res[2].finish_reason == "stop" and res[2].response_ids == [4, 4]  # stop string
    g.load_weights({"lm.model.norm.weight": torch.ones(2)})
    assert list(llm.loaded) == ["model.norm.weight"] and llm.resets == 1


def test_vllm_generator_rpc_path():
    calls = []

    class RpcLLM:
        def collective_rpc(self, fn, args=()):
            worker = SimpleNamespace(model_runner=SimpleNamespace(model=SimpleNamespace(
                load_weights=lambda weights: calls.append(dict(weights)))))
            return [fn(worker, *args)]

    VLLMGenerator(RpcLLM()).load_weights({"lm.a": torch.zeros(1)})
    assert list(calls[0]) == ["a"]
