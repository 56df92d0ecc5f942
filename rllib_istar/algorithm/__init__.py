"""The RLlib Algorithm: config, validation, training step, and the steps around training.

* :mod:`.knobs`       every knob, declared once (type, default, bounds, choices, doc)
* :mod:`.validation`  one-line errors for unknown keys, bad values, impossible settings
* :mod:`.istar`       ``IStarConfig`` (describes) and ``IStar`` (sample -> update -> sync)
* :mod:`.warmup`      the explicit format warm-up step (``prepare_policy_model``)
* :mod:`.export`      trained modules -> Hugging Face folders
* :mod:`.evaluation`  restore a checkpoint and score episodes (``rllib evaluate``)
"""
