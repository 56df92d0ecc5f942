"""Shared helpers of the benchmark runners: Ray session, configs, one training run,
machine description, incremental JSON results.

Nothing here changes what the plugin computes. The probes (``probes.py``) are
learner/algorithm subclasses that only read, through the plugin's hooks;
``build_config`` plugs them in. They need the learner in this process
(``num_learners=0``), which is what the benchmarks use.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional

from benchmarks import results_io
from benchmarks.settings import ENV_CONFIGS, ENV_IDS, ROOT
from rllib_istar import metrics as M


# --------------------------------------------------------------------- session
def init_ray(num_cpus: int = 2) -> None:
    import ray

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not ray.is_initialized():
        env_vars = {"TOKENIZERS_PARALLELISM": "false"}
        if os.environ.get("RLLIB_ISTAR_CACHE"):
            env_vars["RLLIB_ISTAR_CACHE"] = os.environ["RLLIB_ISTAR_CACHE"]
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env_vars})


def quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("ray", "ray.rllib", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)


def build_config(env: str, settings: Dict[str, Any], seed: int, *, probe: bool = False,
                 timing: bool = False):
    """An IStarConfig for ``env`` ('toy' | 'sokoban') with ``settings`` as training knobs.

    ``probe``: the learner records the advantage probe (``probes.AdvantageProbeLearner``);
    ``timing``: algorithm and learner keep raw phase durations (``probes.TimingIStar``,
    ``probes.TimingLearner``). Both only read; the run computes the same.
    """
    from rllib_istar import IStarConfig

    settings = dict(settings)
    env_config = {**ENV_CONFIGS[env], **settings.pop("env_config", {})}
    algo_class = None
    if probe or timing:
        from benchmarks import probes

        if probe and timing:
            raise ValueError("one probe per run: probe (advantages) or timing (raw timers)")
        settings["learner_class"] = probes.AdvantageProbeLearner if probe else probes.TimingLearner
        algo_class = probes.TimingIStar if timing else None
    return (IStarConfig(algo_class=algo_class).environment(ENV_IDS[env], env_config=env_config)
            .debugging(seed=seed, log_level="ERROR").training(**settings))


def machine_info() -> Dict[str, Any]:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "platform": platform.platform()}
    try:
        import ray
        import transformers

        info["ray"], info["transformers"] = ray.__version__, transformers.__version__
    except ImportError:
        pass
    # where a speed figure was measured: the CPU model, its bf16 instructions, the measured
    # bf16/float32 matmul time and what autocast_dtype auto picks here (lm/precision.py)
    from rllib_istar.lm.precision import machine_precision_info

    info.update(machine_precision_info())
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def rss_mb() -> float:
    """This process's resident set now, MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_avg() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except Exception:
        return "?"


# ------------------------------------------------------------------ JSON store
class ResultStore:
    """A JSON file of ``{"meta": ..., "runs": {key: run}}``, rewritten atomically
    after every run so a cut-off benchmark keeps what it had."""

    def __init__(self, path: str, meta: Optional[Dict[str, Any]] = None):
        self.path = path
        self.data: Dict[str, Any] = {"meta": meta or {}, "runs": {}}
        if results_io.existing(path):
            self.data = results_io.load_json(path)
            self.data.setdefault("runs", {})
            if meta:
                self.data.setdefault("meta", {}).update(
                    {k: v for k, v in meta.items() if k not in self.data["meta"]})

    def __contains__(self, key: str) -> bool:
        return key in self.data["runs"]

    def put(self, key: str, run: Dict[str, Any]) -> None:
        self.data["runs"][key] = run
        self.save()

    def save(self) -> None:
        results_io.dump_json(self.data, self.path, indent=1, default=float)


# ------------------------------------------------------------------ one run
CREDIT_KEYS = (M.CREDIT_AUC_STEP_REWARD, M.CREDIT_AUC_STEP_ADV, M.CREDIT_AUC_ADVANTAGE,
               M.CREDIT_AUC_RLOO, M.CREDIT_AUC_GIGPO, M.CREDIT_GAP_SHARE,
               M.CREDIT_STEP_ADV_ABS_DECISIVE, M.CREDIT_STEP_ADV_ABS_OTHER,
               M.CREDIT_STATE_STEP_REWARD, M.CREDIT_STATE_PRM_PROGRESS, M.CREDIT_STATE_DRIFT_TERM,
               M.CREDIT_STATE_POLICY_DRIFT, M.CREDIT_STATE_STEP_ADV, M.CREDIT_STATE_DRIFT_NATS,
               M.CREDIT_STATE_PROMPTS, M.CREDIT_SAMPLED_ADVANTAGE, M.CREDIT_SAMPLED_STEP_REWARD,
               M.CREDIT_SAMPLED_STEP_ADV, M.CREDIT_SAMPLED_RLOO, M.CREDIT_SAMPLED_GIGPO,
               M.KL_REF)
_KEEP = {
    "env_runners": ("success_rate", "invalid_action_rate", "outcome_mean", "episode_len_mean",
                    "num_env_steps_sampled", "generation_time_s", "env_time_s",
                    "num_generated_tokens"),
    "prm": ("num_pairs", "pair_acc", "dpo_loss", "ce_loss", "acc", "groups_without_pairs",
            "step_reward_mean", "step_reward_std", "margin_mean", M.PRM_REPLAY_BATCHES),
    "default_policy": ("adv_episode_std", "adv_step_std", "adv_mean", "approx_kl", "clip_frac",
                       "ratio_max", "policy_loss", "entropy", "gradients_policy_global_norm",
                       *CREDIT_KEYS),
}


def flatten_result(result: Dict[str, Any]) -> Dict[str, float]:
    """The per-iteration numbers the benchmarks keep, as a flat dict."""
    out: Dict[str, float] = {"env_steps": float(result.get("num_env_steps_sampled_lifetime", 0))}
    er = result.get("env_runners", {})
    for k in _KEEP["env_runners"]:
        if k in er:
            out[k] = float(er[k])
    learners = result.get("learners", {})
    for mid, prefix in (("prm", "prm/"), ("default_policy", "")):
        for k in _KEEP[mid]:
            v = learners.get(mid, {}).get(k)
            if v is not None:
                out[prefix + k] = float(v)
    return out


def train_run(env: str, settings: Dict[str, Any], seed: int, *, env_step_budget: int,
              max_iters: int = 10_000, probe: bool = False,
              on_iter: Optional[Callable[[Dict[str, float]], None]] = None,
              wall_limit_s: Optional[float] = None,
              configure: Optional[Callable[[Any], Any]] = None) -> Dict[str, Any]:
    """Train one (env, settings, seed) until ``env_step_budget`` env steps are sampled.

    ``probe``: add the advantage probe's record of each iteration as ``probe/<key>``;
    ``configure``: ``config -> config``, applied last (e.g. remote env runners).
    Returns ``{"history": [per-iteration dict], "wall_s": ..., "build_s": ...}``.
    """
    cfg = build_config(env, settings, seed, probe=probe)
    if configure is not None:
        cfg = configure(cfg)
    t0 = time.perf_counter()
    algo = cfg.build_algo()
    build_s = time.perf_counter() - t0
    if probe:
        from benchmarks.probes import learner_call

        def pop_probe() -> Dict[str, float]:
            return learner_call(algo, lambda learner: learner.pop_probe())[0]

        pop_probe()
    history: List[Dict[str, float]] = []
    t1 = time.perf_counter()
    cut = False
    try:
        for it in range(max_iters):
            ti = time.perf_counter()
            rec = flatten_result(algo.train())
            rec["iter"] = it + 1
            rec["iter_s"] = time.perf_counter() - ti
            if probe:
                rec.update({"probe/" + k: v for k, v in pop_probe().items()})
            history.append(rec)
            if on_iter:
                on_iter(rec)
            if rec["env_steps"] >= env_step_budget:
                break
            if wall_limit_s and time.perf_counter() - t1 > wall_limit_s:
                cut = True
                break
    finally:
        algo.stop()
    return {"history": history, "wall_s": time.perf_counter() - t1, "build_s": build_s,
            "cut_by_wall_limit": cut}
