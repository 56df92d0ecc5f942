"""The tiny VLM (lm/tiny_vlm.py) and the image path (lm/vision.py): prompts, pixel
inputs, the image reaching the model, the rollout/learner log-prob gap."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from lmtest_utils import WORDS, right_pad

from rllib_istar.envs.images import IMAGE_PLACEHOLDER, split_on_image
from rllib_istar.lm import ModelLoadError, load_causal_lm, load_tokenizer
from rllib_istar.lm.logprobs import compute_token_logprobs
from rllib_istar.lm.tiny_vlm import (
    ARCHS,
    IMAGE_PAD,
    VISION_END,
    VISION_START,
    tiny_vlm_path,
)
from rllib_istar.lm.vision import (
    VisionInputs,
    copy_vision_files,
    is_vision_model,
    is_vision_model_path,
    suppressed_token_ids,
)
from rllib_istar.rollout.generation import HFGenerator, VLLMGenerator

VLM_WORDS = WORDS + ["now", "seen", "up", "down", "<action>", "</action>"]


@pytest.fixture(scope="module", params=ARCHS)
def vlm(request):
    path = tiny_vlm_path(VLM_WORDS, arch=request.param)
    tok = load_tokenizer(path)
    return path, tok, VisionInputs.from_path(path, tok), load_causal_lm(path)


def _images(n, seed=0, size=48):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_tiny_vlm_is_a_cached_deterministic_vision_model(vlm):
    path, tok, vision, model = vlm
    assert is_vision_model_path(path) and is_vision_model(model)
    assert type(model).__name__.endswith("ForConditionalGeneration")
    assert tiny_vlm_path(list(reversed(VLM_WORDS)), arch=model.config.model_type) == path
    again = load_causal_lm(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                again.state_dict().values()))
    assert tok.convert_ids_to_tokens(vision.image_token_id) == IMAGE_PAD


def test_prompt_holds_one_image_with_its_expanded_tokens(vlm):
    _, tok, vision, _ = vlm
    text = f"red door\nnow {IMAGE_PLACEHOLDER}\nup down"
    ids = vision.encode_prompt(tok, text, (48, 48, 3))
    n = vision.num_image_tokens((48, 48, 3))
    assert n == (48 // 4) ** 2 // 4  # 4-px patches, 2x2 merged
    assert vision.count_image_tokens(ids) == n
    pads = [i for i, t in enumerate(ids) if t == vision.image_token_id]
    assert pads == list(range(pads[0], pads[0] + n))  # one contiguous block
    assert ids[pads[0] - 1] == tok.convert_tokens_to_ids(VISION_START)
    assert ids[pads[-1] + 1] == tok.convert_tokens_to_ids(VISION_END)
    words = tok.decode(ids, skip_special_tokens=True).split()
    assert words[:2] == ["user", "red"] and "now" in words and words[-1] == "assistant"
    assert vision.num_image_tokens((96, 48, 3)) == 2 * n
    with_prefix = vision.encode_prompt(tok, text, (48, 48, 3), response_prefix="<action>")
    assert with_prefix[:-1] == ids and tok.decode(with_prefix[-1:]) == "<action>"


@pytest.mark.parametrize("text", ["no picture", f"{IMAGE_PLACEHOLDER} twice {IMAGE_PLACEHOLDER}"])
def test_prompt_needs_exactly_one_placeholder(vlm, text):
    _, tok, vision, _ = vlm
    with pytest.raises(ValueError, match="exactly once"):
        vision.encode_prompt(tok, text, (48, 48, 3))
    with pytest.raises(ValueError, match="exactly once"):
        split_on_image(text)


def test_pixel_inputs_one_image_per_row(vlm):
    _, _, vision, _ = vlm
    out = vision.pixel_inputs(torch.from_numpy(np.stack(_images(3))))
    assert out["image_grid_thw"].tolist() == [[1, 12, 12]] * 3
    assert out["pixel_values"].shape == (3 * 144, 3 * 2 * 4 * 4)
    assert out["pixel_values"].dtype == torch.float32


def _rows(vision, tok, images, responses):
    prompts = [vision.encode_prompt(tok, f"{'red ' * i}now {IMAGE_PLACEHOLDER} up", im.shape)
               for i, im in enumerate(images)]
    return right_pad([p + r for p, r in zip(prompts, responses)])


def test_changing_one_pixel_region_changes_that_rows_logits_only(vlm):
    _, tok, vision, model = vlm
    images = _images(3)
    ids, mask = _rows(vision, tok, images, [[tok.eos_token_id]] * 3)
    with torch.no_grad():
        base = compute_token_logprobs(model, ids, mask, model_inputs=vision.pixel_inputs(images))
        changed = [im.copy() for im in images]
        changed[1][:8, :8] = 255 - changed[1][:8, :8]  # one 8x8 region of row 1
        moved = compute_token_logprobs(model, ids, mask, model_inputs=vision.pixel_inputs(changed))
        blind = compute_token_logprobs(model, ids, mask)
    diff = (moved - base).abs().amax(dim=1)
    assert diff[1] > 1e-5 and diff[0] == 0 and diff[2] == 0
    assert (blind - base).abs().max() > 1e-4  # without pixels the pads are just tokens


def test_rollout_logprobs_match_the_learner_with_images(vlm):
    """Left-padded batched generation vs the right-padded learner recompute (the pi_old
    gap the learner logs), with prompts of different lengths, each with its image."""
    _, tok, vision, model = vlm
    images = _images(3, seed=1)
    prompts = [vision.encode_prompt(tok, f"{'red ' * (2 * i)}now {IMAGE_PLACEHOLDER} up",
                                    im.shape) for i, im in enumerate(images)]
    gen = HFGenerator(model, tok, vision=vision)
    out = gen.generate(prompts, max_new_tokens=6, temperature=1.0, seed=3, images=images)
    responses = [r.response_ids for r in out]
    ids, mask = right_pad([p + r for p, r in zip(prompts, responses)])
    resp = torch.zeros(ids.shape)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        resp[i, len(p):len(p) + len(r)] = 1
    with torch.no_grad():
        learner = compute_token_logprobs(model, ids, mask, target_mask=resp,
                                         model_inputs=vision.pixel_inputs(images))
    for i, (p, r) in enumerate(zip(prompts, out)):
        got = learner[i, len(p):len(p) + len(r.response_ids)]
        assert torch.allclose(got, torch.tensor(r.logp), atol=1e-4), (i, got, r.logp)
        assert (learner[i, :len(p)] == 0).all()  # the prompt (image tokens too) has no logp
    again = gen.generate(prompts, max_new_tokens=6, temperature=1.0, seed=3, images=images)
    assert [r.response_ids for r in again] == responses  # seeded: reproducible


def test_image_and_vision_tokens_are_never_sampled_and_logprobs_agree(vlm):
    """A random VLM samples special tokens too; a sampled image-pad token would be one
    image token more than the image's features. Rollout and learner both exclude them."""
    _, tok, vision, model = vlm
    banned = set(suppressed_token_ids(model))
    assert vision.image_token_id in banned and len(banned) == 4
    images = _images(16, seed=2)
    prompts = [vision.encode_prompt(tok, f"now {IMAGE_PLACEHOLDER} up", im.shape) for im in images]
    gen = HFGenerator(model, tok, vision=vision)
    out = gen.generate(prompts, max_new_tokens=24, temperature=3.0, seed=0, images=images)
    assert not banned & {t for r in out for t in r.response_ids}
    ids, mask = right_pad([p + r.response_ids for p, r in zip(prompts, out)])
    with torch.no_grad():
        learner = compute_token_logprobs(model, ids, mask, temperature=3.0,
                                         model_inputs=vision.pixel_inputs(images))
    for i, (p, r) in enumerate(zip(prompts, out)):
        assert torch.allclose(learner[i, len(p):len(p) + len(r.logp)], torch.tensor(r.logp),
                              atol=1e-4)


def test_generator_refuses_images_it_cannot_use(vlm):
    _, tok, vision, model = vlm
    with pytest.raises(ValueError, match="not a vision-language model"):
        HFGenerator(model, tok).generate([[1, 2]], max_new_tokens=1, images=_images(1))
    with pytest.raises(ValueError, match="one image per prompt"):
        HFGenerator(model, tok, vision=vision).generate([[1, 2]], max_new_tokens=1,
                                                        images=_images(2))
    with pytest.raises(NotImplementedError, match="generation_backend: hf"):
        VLLMGenerator(object()).generate([[1]], max_new_tokens=1, images=_images(1))


def test_other_vision_families_get_a_one_line_error(tmp_path, vlm):
    path = vlm[0]
    bad = tmp_path / "llava"
    bad.mkdir()
    cfg = json.loads(open(os.path.join(path, "config.json")).read())
    cfg["model_type"] = "llava"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="supported: qwen2_vl, qwen2_5_vl"):
        load_causal_lm(str(bad))


def test_copy_vision_files_makes_a_trained_copy_loadable(tmp_path, vlm):
    path, tok, vision, model = vlm
    out = tmp_path / "copy"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    assert not (out / "preprocessor_config.json").exists()
    copy_vision_files(path, str(out))
    assert (out / "preprocessor_config.json").exists()
    again = VisionInputs.from_path(str(out), load_tokenizer(str(out)))
    assert again.num_image_tokens((48, 48, 3)) == vision.num_image_tokens((48, 48, 3))
