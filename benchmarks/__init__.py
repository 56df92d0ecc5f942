"""The benchmarks of docs/benchmarks/ (raw results in benchmarks/results/). Run them from the repository root as modules:

    python -m benchmarks.learning ...       # learning efficiency -> learning*.json
    python -m benchmarks.cost ...           # what the plugin costs -> cost.json
    python -m benchmarks.report             # tables and plots from the JSON only
    python -m benchmarks.credit_sim ...     # tabular simulation of the iStar loop (seconds)
    python -m benchmarks.env_step_time      # prints
    python -m benchmarks.gpu_generation --out results.json   # CUDA, no Ray

Runners (need Ray and torch): ``learning``, ``cost`` (+ ``memory``, its worker
process), built on ``common`` (session, configs, one training run, JSON store)
and ``probes`` (learner/algorithm subclasses that observe through the plugin's
hooks). ``credit_sim`` needs torch only (the project's ``core`` math on logit tables).
Pure (no Ray, no torch): ``settings`` (what runs, read from the tuned
YAMLs), ``stats`` (summaries and curves), ``report`` (markdown), ``credit_report`` and
``credit_r200_report`` (the CreditChain tables), ``plots``
(matplotlib). ``bare`` holds the plain transformers/torch references the cost
and GPU benchmarks compare against (torch, no Ray).
"""
