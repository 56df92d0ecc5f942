"""The tiny VLM's image path on CUDA: batched generation with images and the learner's
log-probs agree, and the image reaches the model (skipped without CUDA; no Ray)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu


def test_vlm_generation_and_learner_logprobs_agree_on_cuda():
    from lmtest_utils import WORDS, right_pad

    from rllib_istar.envs.images import IMAGE_PLACEHOLDER
    from rllib_istar.lm import load_causal_lm, load_tokenizer
    from rllib_istar.lm.logprobs import compute_token_logprobs
    from rllib_istar.lm.tiny_vlm import tiny_vlm_path
    from rllib_istar.lm.vision import VisionInputs
    from rllib_istar.rollout.generation import HFGenerator

    path = tiny_vlm_path(WORDS + ["now", "up"])
    tok = load_tokenizer(path)
    vision = VisionInputs.from_path(path, tok)
    model = load_causal_lm(path).to("cuda")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(4)]
    prompts = [vision.encode_prompt(tok, f"{'red ' * i}now {IMAGE_PLACEHOLDER} up", im.shape)
               for i, im in enumerate(images)]
    out = HFGenerator(model, tok, vision=vision).generate(
        prompts, max_new_tokens=8, temperature=1.0, seed=0, images=images)
    ids, mask = right_pad([p + r.response_ids for p, r in zip(prompts, out)])
    with torch.no_grad():
        lp = compute_token_logprobs(model, ids.cuda(), mask.cuda(),
                                    model_inputs=vision.pixel_inputs(images)).cpu()
        blind = compute_token_logprobs(model, ids.cuda(), mask.cuda()).cpu()
    for i, (p, r) in enumerate(zip(prompts, out)):
        assert torch.allclose(lp[i, len(p):len(p) + len(r.logp)], torch.tensor(r.logp), atol=1e-3)
    assert (lp - blind).abs().max() > 1e-4
