"""Hand-made token episodes, as the env runner would write them (shared by connector tests)."""
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from rllib_istar import columns as C


def token_episode(group, outcome, steps, won=False, oracle=None, candidates=None):
    """One trajectory of ``group``; ``steps`` = [(prompt ids, response ids, rollout log-probs)];
    step t gets env reward t and, with ``oracle`` (one label per step), the info
    ``{ORACLE_LABEL: oracle[t]}``; with ``candidates`` (one ``(ids per action, labels)``
    per step, ``([], [])`` where not decisive), the runner's same-state candidates."""
    ep = SingleAgentEpisode()
    ep.add_env_reset(observation="o0")
    for t, (prompt, response, logp) in enumerate(steps):
        info = {} if oracle is None else {C.ORACLE_LABEL: oracle[t]}
        extra = {C.PROMPT_IDS: prompt, C.RESPONSE_IDS: response, C.ROLLOUT_LOGP: logp}
        if candidates is not None:
            extra[C.CANDIDATE_IDS], extra[C.CANDIDATE_LABELS] = candidates[t]
        ep.add_env_step(observation=f"o{t + 1}", action="a", reward=float(t), infos=info,
                        extra_model_outputs=extra)
    ep.custom_data.update({C.GROUP_ID: group, C.OUTCOME: outcome, C.WON: won})
    return ep
