"""Names of the data fields that travel between the pieces, in one place.

Episode fields are written by :class:`rllib_istar.rollout.LLMEnvRunner` and read
by the learner connector; row columns are the connector's output (one row per
env step, see docs/ARCHITECTURE.md "Step rows").
"""

# --- SingleAgentEpisode.extra_model_outputs, one entry per env step ---
PROMPT_IDS = "prompt_ids"          # list[int]: the exact prompt ids given to the generator
RESPONSE_IDS = "response_ids"      # list[int]: the exact sampled ids (token in, token out)
ROLLOUT_LOGP = "rollout_logp"      # list[float]: sampled tokens' log-probs at rollout time
PROMPT_TEXT = "prompt_text"        # str: the rendered prompt (for evaluation logs)
ACTION_VALID = "is_action_valid"   # bool: the env's parser accepted the response
ENV_REWARD_RAW = "env_reward_raw"  # float: the env's reward before the invalid penalty
IMAGE = "image"                    # (H, W, 3) uint8: the prompt's image (image envs only,
                                   # envs/images.py), once per step
CANDIDATE_IDS = "candidate_ids"    # list[list[int]]: the canonical response ids of every
                                   # labelled admissible action at a decisive state (else [])
CANDIDATE_LABELS = "candidate_labels"  # list[float]: their oracle labels (+1 / -1 / 0)

# --- env info dict, one entry per env step (optional; credit-quality metrics read it) ---
ORACLE_LABEL = "oracle_step_label"  # float: +1 decisive and right (progress), -1 decisive and
                                    # wrong (irreversible loss), 0 not decisive; absent = unknown

# --- SingleAgentEpisode.custom_data, one entry per trajectory ---
GROUP_ID = "group_id"              # str: unique per task group (shared by its trajectories)
TRAJ_ID = "traj_id"                # str: unique per trajectory
TASK_SEED = "task_seed"            # int: the env seed shared by the group
OUTCOME = "outcome"                # float: r_o(tau), see IStarConfig.outcome
WON = "won"                        # bool
NUM_INVALID = "num_invalid"        # int: invalid actions in the trajectory
POLICY_VERSION = "policy_version"  # int: the env runner's weights version (RLlib's
                                   # WEIGHTS_SEQ_NO, the learner's update count at the last
                                   # sync) when the trajectory was sampled
DEFERRED_INFO = "deferred_info"    # dict: a deferred outcome's facts (envs/deferred.py), e.g.
                                   # a judge's scores; absent for other envs

# --- learner rows (N = env steps, M = trajectories, L = padded length) ---
STEP_ROWS = "step_rows"            # key of the row dict in the learner connector's batch
INPUT_IDS = "input_ids"            # (N, L) long
ATTENTION_MASK = "attention_mask"  # (N, L) long
RESPONSE_MASK = "response_mask"    # (N, L) float, 1 on response tokens only
OLD_LOGP = "old_logp"              # (N, L) float, pi_old log-probs (learner numerics)
REF_LOGP = "ref_logp"              # (N, L) float, frozen initial policy log-probs (KL term)
# ROLLOUT_LOGP (above) is also a row: (N, L) float, 0 off the response
STEP_TRAJ = "step_traj"            # (N,) long, trajectory index 0..M-1
STEP_GROUP = "step_group"          # (N,) long, group index
STEP_INDEX = "step_index"          # (N,) long, t inside the trajectory
ENV_REWARD = "env_reward"          # (N,) float, env reward incl. invalid penalty
ANCHOR = "anchor"                  # (N,) long, anchor-state id (GiGPO)
STEP_POLICY_VERSION = "step_policy_version"  # (N,) long, the trajectory's POLICY_VERSION
STEP_ORACLE = "step_oracle"        # (N,) float, the env's ORACLE_LABEL of the step, NaN if none
ADVANTAGES = "advantages"          # (N,) or (N, L) float
IMAGES = "images"                  # (N, H, W, 3) uint8, each row's prompt image (image envs
                                   # only; absent otherwise)
# same-state candidates (K = labelled actions at the batch's distinct decisive prompts; only
# when the env gives oracle_action_labels): each candidate is a full row prompt ++ response
CAND_INPUT_IDS = "cand_input_ids"  # (K, Lc) long
CAND_ATTENTION_MASK = "cand_attention_mask"  # (K, Lc) long
CAND_RESPONSE_MASK = "cand_response_mask"    # (K, Lc) float
CAND_LABEL = "cand_label"          # (K,) float, +1 right / -1 wrong / 0 neither
CAND_ROW = "cand_row"              # (K,) long, the step row whose prompt the candidate shares
CAND_STATE = "cand_state"          # (K,) long, the distinct decisive prompt 0..S-1
STEP_STATE = "step_state"          # (N,) long, the row's distinct decisive prompt, -1 if none

# --- module outputs (forward_train) ---
LOGP = "logp"                      # (N, L) float32 token log-probs, 0 at position 0 and padding
ENTROPY = "entropy"                # (N, L) float32 token entropies (compute_entropy only)
TRAJ_OUTCOME = "traj_outcome"      # (M,) float
TRAJ_GROUP = "traj_group"          # (M,) long
TRAJ_WON = "traj_won"              # (M,) float, 1.0 if the trajectory won
