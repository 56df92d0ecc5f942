"""Learner side: PRM phase -> step rewards -> advantages -> policy update.

* :mod:`.learner`     ``IStarTorchLearner`` (the overridden ``update()``; policy loss)
* :mod:`.prm_update`  the PRM phase: trajectory DPO / PRIME CE, scoring
* :mod:`.estimators`  the advantage dispatch: estimator and ablation tables, step signals
"""
