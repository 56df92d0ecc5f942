"""The PRM phase against the passes it cannot avoid, as ratios measured in one run.

On one trained toy batch (``toy_istar_cpu.yaml``'s settings, seed 0, after one
iteration), the unit of cost is one PRM forward-backward over the batch (in the
phase's micro-batches) and one no-grad scoring forward. The phase (update + scoring,
``prm_epochs`` 1) cannot cost less than:

* ``prm_update: before`` (the default): one forward-backward, then one scoring forward;
* ``prm_update: after``: one forward-backward (the scoring pass is the first step's
  forward).

Each is timed at ``microbatch_size`` 16 (the default: the toy's groups, 8
trajectories of 3 steps or more, do not fit, so every group takes two passes) and at a
size where every group fits a micro-batch (one pass). Every timing is the median of
``--repeats`` runs; the phase's runs step the PRM (the state moves between repeats, the
work does not).

    python -m benchmarks.prm_phase_cost                       # ~1 min on 2 CPUs
    python -m benchmarks.prm_phase_cost --repeats 1 --out /tmp/x.json   # the test's run
    python -m benchmarks.prm_phase_cost --out benchmarks/results/prm_phase_cost.json

Run it against an older checkout with ``PYTHONPATH=<checkout>`` (the phase's interface,
``learner.prm_phase.run``, is the same) for the before/after table in
docs/benchmarks/cost.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any, Callable, Dict

import torch

from benchmarks import common
from benchmarks.settings import SHARED
from benchmarks.stats import median


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def _batch_with_pairs(algo):
    from rllib_istar import columns as C
    from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
    from rllib_istar.core.prm_losses import preference_pairs

    for _ in range(10):
        rows = episodes_to_rows(algo.env_runner_group.local_env_runner.sample())
        if len(preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], 0.0)):
            return rows
    raise RuntimeError("no batch with a preference pair in 10 samples")


def measure(repeats: int, microbatch_sizes) -> Dict[str, Any]:
    from rllib_istar import columns as C

    algo = common.build_config("toy", dict(SHARED["toy"], advantage_estimator="istar_rloo",
                                           same_state_credit=False), 0).build_algo()
    algo.train()
    learner = algo.learner_group._learner
    phase = learner.prm_phase
    rows = _batch_with_pairs(algo)
    device_rows = {k: v.to(learner._device) for k, v in rows.items()}
    old = learner._old_logp(device_rows)
    groups = torch.bincount(rows[C.STEP_GROUP])
    out: Dict[str, Any] = {"rows": int(len(rows[C.INPUT_IDS])), "groups": int(len(groups)),
                           "largest_group_rows": int(groups.max()), "repeats": repeats,
                           "by_microbatch_size": {}}
    forward_columns = (C.INPUT_IDS, C.ATTENTION_MASK, C.RESPONSE_MASK)
    settings = phase.settings
    for size in microbatch_sizes:
        learner.microbatcher.microbatch_size = size
        mb = learner.microbatcher

        def forward_backward():
            for sl in mb.slices(out["rows"]):
                logp = phase.forward_train({k: device_rows[k][sl] for k in forward_columns})[C.LOGP]
                (logp * device_rows[C.RESPONSE_MASK][sl]).sum().backward()
            for p in phase.parameters().values():
                p.grad = None

        def scoring():
            mb.chunked_logp(phase.token_logprobs, device_rows)

        row = {"forward_backward_s": _median_time(forward_backward, repeats),
               "scoring_forward_s": _median_time(scoring, repeats)}
        for order in ("before", "after"):
            phase.settings = dataclasses.replace(settings, order=order, epochs=1)
            row[f"phase_{order}_s"] = _median_time(
                lambda: phase.run(device_rows, old, None), repeats)
        phase.settings = settings
        floor_before = row["forward_backward_s"] + row["scoring_forward_s"]
        row["ratio_before"] = row["phase_before_s"] / floor_before
        row["ratio_after"] = row["phase_after_s"] / row["forward_backward_s"]
        out["by_microbatch_size"][str(size)] = row
    algo.stop()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--microbatch-sizes", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--out", default=None, help="write the JSON here too")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    result = {"machine": common.machine_info(),
              **measure(args.repeats, args.microbatch_sizes)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
