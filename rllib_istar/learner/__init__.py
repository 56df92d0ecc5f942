"""Learner side: PRM phase -> step rewards -> advantages -> policy update.

* :mod:`.learner`              ``IStarTorchLearner`` (the overridden ``update()``; policy loss;
  every RLlib override)
* :mod:`.prm_phase`            the PRM phase: trajectory DPO / PRIME CE, scoring
* :mod:`.microbatches`         row slices, token-budget groups, DDP padding
* :mod:`.policy_microbatches`  the policy update in token-budget micro-batches
* :mod:`.estimator_tables`     the advantage dispatch: estimator and ablation tables, step signals
* :mod:`.pooled_credit`, :mod:`.same_state_credit`  credit metrics against oracle labels
"""
