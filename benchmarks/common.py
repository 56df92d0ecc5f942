"""Shared helpers of the benchmarks: Ray session, configs, one training run, probes,
machine description, incremental JSON results.

Nothing here changes what the plugin computes. The probes only *read*: the
advantage probe wraps ``rllib_istar.istar_learner.compute_advantages`` and
returns its result unchanged (it needs the learner in this process, i.e.
``num_learners=0``, which is what the benchmarks use); the timer probe wraps
``MetricsLogger.log_time`` to record every raw duration the plugin's own timers
measure (RLlib reports them as an EMA, useless for per-iteration breakdowns).
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run from a checkout without installing

ENV_IDS = {"toy": "rllib_istar/KeyCorridor-v0", "sokoban": "rllib_istar/Sokoban-v0"}
ENV_CONFIGS = {"toy": {}, "sokoban": {"action_format": "bare"}}  # word-level tiny model


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


def build_config(env: str, settings: Dict[str, Any], seed: int):
    """An IStarConfig for ``env`` ('toy' | 'sokoban') with ``settings`` as training knobs."""
    from rllib_istar import IStarConfig

    settings = dict(settings)
    env_config = {**ENV_CONFIGS[env], **settings.pop("env_config", {})}
    return (IStarConfig().environment(ENV_IDS[env], env_config=env_config)
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
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        info["cpu_model"] = names[0] if names else "?"
    except OSError:
        info["cpu_model"] = "?"
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


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
        if os.path.exists(path):
            with open(path) as f:
                self.data = json.load(f)
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
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, default=float)
        os.replace(tmp, self.path)


# ---------------------------------------------------------------------- probes
class AdvantageProbe:
    """Records, per learner update, how each method's advantages treat the
    *decisive* step of the toy (step 0: which key) and the implicit step rewards.

    Toy rows: the door colour is the prompt's last token, the key is the
    response's first token. For step-0 rows with a valid key we record the mean
    advantage of right-key and wrong-key steps (their gap is the credit the
    policy gets for the right decision) and, for PRM methods, the same for the
    step reward r_phi and its AUC (P(r_phi(right) > r_phi(wrong)) within a group).
    On every env we record the correlation of r_phi with the env's own step reward.
    """

    def __init__(self):
        self.records: List[Dict[str, float]] = []
        self.color_ids: Optional[set] = None
        self._orig = None

    def install(self, tokenizer=None) -> "AdvantageProbe":
        import rllib_istar.istar_learner as L

        if tokenizer is not None:
            from rllib_istar.envs.toy import COLORS

            self.color_ids = {tokenizer.convert_tokens_to_ids(c) for c in COLORS}
        if self._orig is None:
            self._orig = L.compute_advantages
            probe = self

            def wrapped(spec, rows, **kw):
                out = probe._orig(spec, rows, **kw)
                try:
                    probe._record(rows, out[0], kw.get("step_rewards"))
                except Exception as e:  # a probe must never break training
                    probe.records.append({"probe_error": repr(e)})
                return out

            L.compute_advantages = wrapped
        return self

    def uninstall(self) -> None:
        if self._orig is not None:
            import rllib_istar.istar_learner as L

            L.compute_advantages = self._orig
            self._orig = None

    def pop(self) -> Dict[str, float]:
        recs, self.records = self.records, []
        return recs[-1] if recs else {}

    def _record(self, rows, adv, step_r) -> None:
        import torch

        from rllib_istar import columns as C

        rec: Dict[str, float] = {}
        mask = rows[C.RESPONSE_MASK]
        adv_step = adv if adv.dim() == 1 else (adv * mask).sum(1) / mask.sum(1).clamp(min=1)
        env_r = rows[C.ENV_REWARD].float()
        if step_r is not None and len(step_r) > 2 and float(env_r.std()) > 0:
            rec["corr_r_phi_env_reward"] = float(torch.corrcoef(torch.stack([step_r.float(), env_r]))[0, 1])
        if self.color_ids is not None:
            first = mask.float().argmax(1)
            idx = torch.arange(len(first))
            key = rows[C.INPUT_IDS][idx, first]
            door = rows[C.INPUT_IDS][idx, first - 1]
            is0 = (rows[C.STEP_INDEX] == 0) & torch.tensor([int(k) in self.color_ids for k in key])
            right, wrong = is0 & (key == door), is0 & (key != door)
            rec["key_steps"] = int(is0.sum())
            rec["key_right_frac"] = float(right.sum()) / max(int(is0.sum()), 1)
            if right.any() and wrong.any():
                rec["adv_key_gap"] = float(adv_step[right].mean() - adv_step[wrong].mean())
                later = rows[C.STEP_INDEX] > 0
                rec["adv_later_abs"] = float(adv_step[later].abs().mean()) if later.any() else 0.0
                if step_r is not None:
                    rec["r_phi_key_gap"] = float(step_r[right].mean() - step_r[wrong].mean())
                    rec["r_phi_key_auc"] = _group_auc(step_r, rows[C.STEP_GROUP], right, wrong)
                    # share of the step reward's spread that sits on the decisive step
                    sr = step_r.float()
                    rec["r_phi_key_std"] = float(sr[is0].std()) if is0.sum() > 1 else 0.0
                    rec["r_phi_later_std"] = float(sr[later].std()) if later.sum() > 1 else 0.0
        self.records.append(rec)


def _group_auc(score, group, pos, neg) -> float:
    """Mean over groups of P(score(pos) > score(neg)) (ties count 1/2)."""
    aucs = []
    for g in group.unique():
        p, n = score[pos & (group == g)], score[neg & (group == g)]
        if len(p) and len(n):
            d = p[:, None] - n[None, :]
            aucs.append(float(((d > 0).float() + 0.5 * (d == 0).float()).mean()))
    return sum(aucs) / len(aucs) if aucs else float("nan")


class TimerProbe:
    """Raw durations of every ``metrics.log_time`` block, per key, in this process."""

    def __init__(self):
        self.times: Dict[str, List[float]] = defaultdict(list)
        self._orig = None

    def install(self) -> "TimerProbe":
        from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

        if self._orig is not None:
            return self
        self._orig = MetricsLogger.log_time
        probe, orig = self, self._orig

        def log_time(logger, key, *args, **kwargs):
            inner = orig(logger, key, *args, **kwargs)
            name = "/".join(key) if isinstance(key, (tuple, list)) else str(key)

            @contextlib.contextmanager
            def cm():
                t0 = time.perf_counter()
                with inner:
                    yield
                probe.times[name].append(time.perf_counter() - t0)
            return cm()

        MetricsLogger.log_time = log_time
        return self

    def uninstall(self) -> None:
        if self._orig is not None:
            from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

            MetricsLogger.log_time = self._orig
            self._orig = None

    def pop(self) -> Dict[str, float]:
        """Sum per key since the last pop (one iteration)."""
        out = {k: sum(v) for k, v in self.times.items()}
        self.times.clear()
        return out


# ------------------------------------------------------------------ one run
_KEEP = {
    "env_runners": ("success_rate", "invalid_action_rate", "outcome_mean", "episode_len_mean",
                    "num_env_steps_sampled", "generation_time_s", "env_time_s",
                    "num_generated_tokens"),
    "prm": ("num_pairs", "pair_acc", "dpo_loss", "ce_loss", "acc", "groups_without_pairs",
            "step_reward_mean", "step_reward_std", "margin_mean"),
    "default_policy": ("adv_episode_std", "adv_step_std", "adv_mean", "approx_kl", "clip_frac",
                       "ratio_max", "policy_loss", "entropy", "gradients_policy_global_norm"),
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
              max_iters: int = 10_000, probe: Optional[AdvantageProbe] = None,
              on_iter: Optional[Callable[[Dict[str, float]], None]] = None,
              wall_limit_s: Optional[float] = None) -> Dict[str, Any]:
    """Train one (env, settings, seed) until ``env_step_budget`` env steps are sampled.

    Returns ``{"history": [per-iteration dict], "wall_s": ..., "build_s": ...}``.
    """
    cfg = build_config(env, settings, seed)
    t0 = time.perf_counter()
    algo = cfg.build_algo()
    build_s = time.perf_counter() - t0
    if probe is not None:
        tok = None
        if env == "toy":
            from rllib_istar.models import load_tokenizer

            tok = load_tokenizer(cfg.effective_model_path())
        probe.install(tok)
        probe.pop()
    history: List[Dict[str, float]] = []
    t1 = time.perf_counter()
    cut = False
    try:
        for it in range(max_iters):
            ti = time.perf_counter()
            rec = flatten_result(algo.train())
            rec["iter"] = it + 1
            rec["iter_s"] = time.perf_counter() - ti
            if probe is not None:
                rec.update({"probe/" + k: v for k, v in probe.pop().items()})
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
        if probe is not None:
            probe.uninstall()
    return {"history": history, "wall_s": time.perf_counter() - t1, "build_s": build_s,
            "cut_by_wall_limit": cut}
