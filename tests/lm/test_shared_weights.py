"""``share_frozen_weights``: shares frozen, equal, same-layout tensors only."""
import pytest
import torch

from rllib_istar.lm.shared_weights import canonical_name, share_frozen_weights


def _model(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].requires_grad_(False)  # a frozen base layer; the head trains
    return model


def test_frozen_equal_tensors_are_shared_and_nothing_else():
    source, target = _model(), _model()
    saved = share_frozen_weights(target, source)
    assert saved == (16 + 4) * 4
    assert target[0].weight.data_ptr() == source[0].weight.data_ptr()
    assert target[0].bias.data_ptr() == source[0].bias.data_ptr()
    assert target[1].weight.data_ptr() != source[1].weight.data_ptr()  # trainable: own copy
    assert share_frozen_weights(target, source) == 0  # already shared


def test_different_values_are_not_shared():
    """Sharing by name alone would silently swap the target's weights."""
    source, target = _model(0), _model(1)
    before = target[0].weight.clone()
    assert share_frozen_weights(target, source) == 0
    assert torch.equal(target[0].weight, before)


@pytest.mark.parametrize("change", ["dtype", "trainable"])
def test_a_different_dtype_or_a_trainable_source_is_not_shared(change):
    source, target = _model(), _model()
    if change == "dtype":
        target = target.to(torch.bfloat16)  # e.g. a runner's inference copy under autocast
    else:
        source[0].requires_grad_(True)
    assert share_frozen_weights(target, source) == 0


def test_canonical_name_strips_the_peft_wrapper():
    assert canonical_name("base_model.model.model.layers.0.mlp.up_proj.base_layer.weight") == \
        "model.layers.0.mlp.up_proj.weight"
    assert canonical_name("model.embed_tokens.weight") == "model.embed_tokens.weight"
