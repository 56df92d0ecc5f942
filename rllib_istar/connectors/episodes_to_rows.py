"""Learner connector: token episodes -> padded step rows (one row per env step).

A step is the unit of credit (docs/algorithm.md "Objects"), so each env step
becomes one row ``prompt_ids ++ response_ids`` with a response mask; the
trajectory and group tables ride along. Ids are taken exactly as generated
(never re-tokenised). Groups are numbered in order of first appearance and
every row of a group stays in the batch (the learner never splits groups).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2

from rllib_istar import columns as C
from rllib_istar.connectors.step_rows import StepRows
from rllib_istar.core.gigpo import anchor_ids


def step_oracle_labels(ep: Any) -> List[float]:
    """The env's ``info[ORACLE_LABEL]`` of each step of a ``SingleAgentEpisode``, NaN
    where the env gives none (``infos[t + 1]`` came with step t, ``infos[0]`` with the
    reset). Length ``len(ep)``."""
    infos = ep.get_infos()
    return [float((infos[t + 1] if t + 1 < len(infos) else {}).get(C.ORACLE_LABEL, math.nan))
            for t in range(len(ep))]


def episodes_to_rows(episodes: Sequence[Any], pad_id: int = 0) -> StepRows:
    """Build the step-row batch (:class:`~rllib_istar.connectors.step_rows.StepRows`:
    step, trajectory and candidate columns apart) from finished ``SingleAgentEpisode``s.

    Returns (N env steps, M trajectories, L = longest prompt+response):
        ``input_ids (N, L) long`` right-padded with ``pad_id`` (any valid id:
        padding sits after the real tokens and is masked, so it never matters);
        ``attention_mask (N, L) long``; ``response_mask (N, L) float`` (1 on
        response tokens only: prompt and padding are 0); ``rollout_logp (N, L)``
        (0 off the response); ``step_traj``, ``step_group``, ``step_index``,
        ``anchor`` ``(N,) long``; ``env_reward (N,) float``; ``step_oracle (N,) float``
        (the env's ``info[ORACLE_LABEL]`` of the step: +1 / -1 decisive right / wrong,
        0 not decisive, NaN where the env gives none);
        ``traj_outcome (M,) float``; ``traj_group (M,) long``; ``traj_won (M,) float``;
        for image envs (``envs/images.py``: every step carries ``columns.IMAGE``) also
        ``images (N, H, W, 3) uint8``, each row's prompt image, stored once per row (the
        GiGPO anchor key then adds the image's bytes to the observation text, whose
        placeholder alone would make every state alike);
        where the runner recorded labelled actions (``columns.CANDIDATE_IDS``; envs with
        ``oracle_action_labels``), the same-state candidates: one ``cand_*`` row per
        labelled action of each *distinct* decisive prompt (``K`` rows: ``cand_input_ids``,
        ``cand_attention_mask``, ``cand_response_mask (K, Lc)``, ``cand_label``,
        ``cand_row`` (the first step row with that prompt), ``cand_state (K,)``) and
        ``step_state (N,) long`` (each row's decisive prompt, -1 where none);
        where every episode records the runner's weights version
        (``columns.POLICY_VERSION``), ``step_policy_version (N,) long``.

    Example: one trajectory with steps (prompt [5, 6], response [7]) and
    (prompt [5], response [8, 9]) gives ``input_ids [[5,6,7],[5,8,9]]`` and
    ``response_mask [[0,0,1],[0,1,1]]``.
    """
    group_index: Dict[str, int] = {}
    state_index: Dict[Any, int] = {}  # distinct decisive prompt -> state id
    step_state: List[int] = []
    candidates: List[tuple] = []      # (state, source row, prompt, response ids, label)
    rows: List[tuple] = []
    traj_outcome, traj_group, traj_won = [], [], []
    step_traj, step_group, step_index, env_reward, anchor_keys, oracle = [], [], [], [], [], []
    images: List[Any] = []
    versions: List[int] = []
    with_versions = all(C.POLICY_VERSION in ep.custom_data for ep in episodes)
    with_images = bool(episodes) and all(C.IMAGE in ep.extra_model_outputs for ep in episodes
                                         if len(ep))
    for m, ep in enumerate(episodes):
        g = group_index.setdefault(ep.custom_data[C.GROUP_ID], len(group_index))
        traj_outcome.append(float(ep.custom_data[C.OUTCOME]))
        traj_group.append(g)
        traj_won.append(float(bool(ep.custom_data.get(C.WON, False))))
        prompts = ep.get_extra_model_outputs(C.PROMPT_IDS)
        responses = ep.get_extra_model_outputs(C.RESPONSE_IDS)
        logps = ep.get_extra_model_outputs(C.ROLLOUT_LOGP)
        observations = ep.get_observations()
        rewards = ep.get_rewards()
        oracle.extend(step_oracle_labels(ep))
        step_images = ep.get_extra_model_outputs(C.IMAGE) if with_images and len(ep) else None
        cand_ids = (ep.get_extra_model_outputs(C.CANDIDATE_IDS)
                    if len(ep) and C.CANDIDATE_IDS in ep.extra_model_outputs else None)
        cand_labels = ep.get_extra_model_outputs(C.CANDIDATE_LABELS) if cand_ids is not None else None
        for t in range(len(ep)):
            rows.append((list(prompts[t]), list(responses[t]), list(logps[t])))
            state = -1
            if cand_ids is not None and len(cand_ids[t]):
                key = (tuple(prompts[t]), None if step_images is None
                       else np.asarray(step_images[t], dtype=np.uint8).tobytes())
                if key not in state_index:
                    state_index[key] = len(state_index)
                    candidates.extend((state_index[key], len(rows) - 1, list(prompts[t]),
                                       list(ids), float(label))
                                      for ids, label in zip(cand_ids[t], cand_labels[t]))
                state = state_index[key]
            step_state.append(state)
            step_traj.append(m)
            step_group.append(g)
            step_index.append(t)
            if with_versions:
                versions.append(int(ep.custom_data[C.POLICY_VERSION]))
            env_reward.append(float(rewards[t]))
            if step_images is None:
                anchor_keys.append(observations[t])
            else:
                image = np.asarray(step_images[t], dtype=np.uint8)
                images.append(image)
                anchor_keys.append((observations[t], image.shape, image.tobytes()))
    n = len(rows)
    length = max((len(p) + len(r) for p, r, _ in rows), default=1)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, length), dtype=torch.long)
    response_mask = torch.zeros((n, length), dtype=torch.float32)
    rollout_logp = torch.zeros((n, length), dtype=torch.float32)
    for i, (prompt, response, logp) in enumerate(rows):
        p, r = len(prompt), len(response)
        input_ids[i, : p + r] = torch.tensor(prompt + response, dtype=torch.long)
        attention_mask[i, : p + r] = 1
        response_mask[i, p : p + r] = 1.0
        rollout_logp[i, p : p + r] = torch.tensor(logp, dtype=torch.float32)
    step_group_t = torch.tensor(step_group, dtype=torch.long)
    out = {
        C.INPUT_IDS: input_ids,
        C.ATTENTION_MASK: attention_mask,
        C.RESPONSE_MASK: response_mask,
        C.ROLLOUT_LOGP: rollout_logp,
        C.STEP_TRAJ: torch.tensor(step_traj, dtype=torch.long),
        C.STEP_GROUP: step_group_t,
        C.STEP_INDEX: torch.tensor(step_index, dtype=torch.long),
        C.ENV_REWARD: torch.tensor(env_reward, dtype=torch.float32),
        C.STEP_ORACLE: torch.tensor(oracle, dtype=torch.float32),
        C.ANCHOR: anchor_ids(step_group_t, anchor_keys) if n else torch.zeros(0, dtype=torch.long),
        C.TRAJ_OUTCOME: torch.tensor(traj_outcome, dtype=torch.float32),
        C.TRAJ_GROUP: torch.tensor(traj_group, dtype=torch.long),
        C.TRAJ_WON: torch.tensor(traj_won, dtype=torch.float32),
    }
    if images:
        out[C.IMAGES] = torch.from_numpy(np.stack(images))
    if with_versions and episodes:
        out[C.STEP_POLICY_VERSION] = torch.tensor(versions, dtype=torch.long)
    if candidates:
        out.update(_candidate_rows(candidates, pad_id))
        out[C.STEP_STATE] = torch.tensor(step_state, dtype=torch.long)
    return StepRows.from_columns(out)


def _candidate_rows(candidates: List[tuple], pad_id: int) -> Dict[str, torch.Tensor]:
    """The same-state candidate columns (``columns.CAND_*``) from ``(state, source row,
    prompt ids, response ids, label)`` tuples, right-padded like the step rows."""
    k = len(candidates)
    length = max(len(p) + len(r) for _, _, p, r, _ in candidates)
    input_ids = torch.full((k, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((k, length), dtype=torch.long)
    response_mask = torch.zeros((k, length), dtype=torch.float32)
    for i, (_, _, prompt, response, _) in enumerate(candidates):
        p, r = len(prompt), len(response)
        input_ids[i, : p + r] = torch.tensor(prompt + response, dtype=torch.long)
        attention_mask[i, : p + r] = 1
        response_mask[i, p : p + r] = 1.0
    return {C.CAND_INPUT_IDS: input_ids, C.CAND_ATTENTION_MASK: attention_mask,
            C.CAND_RESPONSE_MASK: response_mask,
            C.CAND_LABEL: torch.tensor([c[4] for c in candidates], dtype=torch.float32),
            C.CAND_ROW: torch.tensor([c[1] for c in candidates], dtype=torch.long),
            C.CAND_STATE: torch.tensor([c[0] for c in candidates], dtype=torch.long)}


class EpisodesToStepRows(ConnectorV2):
    """ConnectorV2 piece wrapping :func:`episodes_to_rows` for the IStar learner.

    Output: ``batch[columns.STEP_ROWS]``, a :class:`StepRows`.
    """

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None,
                 metrics=None, **kwargs):
        batch[C.STEP_ROWS] = episodes_to_rows(episodes)
        return batch
