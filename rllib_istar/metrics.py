"""Metric names, in one place. They reach TensorBoard through Tune as
``ray/tune/<section>/<name>`` (``env_runners/...``, ``learners/<module>/...``,
``timers/...``).
"""

# --- env runners (per iteration; `env_runners/...`) ---
SUCCESS_RATE = "success_rate"
OUTCOME_MEAN = "outcome_mean"
INVALID_ACTION_RATE = "invalid_action_rate"
ENV_ERRORS = "num_env_errors"                 # trajectories dropped because the env raised
GROUPS_DROPPED = "num_groups_dropped"         # groups left with < 2 trajectories by env errors
HISTORY_DROPPED = "num_history_pairs_dropped"  # prompt truncation, rule step 1
PROMPT_TOKENS_CUT = "num_prompts_cut"          # prompt truncation, rule step 2
GENERATED_TOKENS = "num_generated_tokens"
GENERATED_TOKENS_PER_S = "generated_tokens_per_s"
GENERATION_TIME_S = "generation_time_s"
ENV_TIME_S = "env_time_s"
SAMPLE_TIME_S = "sample_time_s"
DEFERRED_OUTCOMES = "num_deferred_outcomes"    # episodes scored in a batch (envs/deferred.py)
DEFERRED_SCORING_S = "deferred_scoring_s"      # seconds of that batch (a judge's judge_many)
DEFERRED_PREFIX = "deferred/"                  # + the outcome info's numbers (judge_scores/goal)

# --- PRM (`learners/prm/...`) ---
DPO_LOSS = "dpo_loss"
PAIR_ACC = "pair_acc"
NUM_PAIRS = "num_pairs"
GROUPS_WITHOUT_PAIRS = "groups_without_pairs"
STEP_REWARD_MEAN = "step_reward_mean"
PRM_WINNER_NLL = "winner_nll"  # mean NLL per winner response token (prm_nll_coef > 0)
PRM_REPLAY_BATCHES = "prm_replay_batches"  # past batches the PRM trained on this iteration
STEP_REWARD_STD = "step_reward_std"
MARGIN_MEAN = "margin_mean"
PRM_CE_LOSS = "ce_loss"
PRM_CE_ACC = "acc"
NUM_ROWS = "num_rows"

# --- advantages and policy (`learners/default_policy/...`) ---
ADV_EPISODE_MEAN = "adv_episode_mean"
ADV_EPISODE_STD = "adv_episode_std"
ADV_STEP_MEAN = "adv_step_mean"
ADV_STEP_STD = "adv_step_std"
ADV_MEAN = "adv_mean"
POLICY_LOSS = "policy_loss"
CLIP_FRAC = "clip_frac"
RATIO_MEAN = "ratio_mean"
RATIO_MAX = "ratio_max"
APPROX_KL = "approx_kl"
NUM_UNITS = "num_units"
NUM_POLICY_MICROBATCHES = "num_policy_microbatches"  # policy_microbatch_tokens set
KL_REF = "kl_ref"
ENTROPY = "entropy"
LOGP_GAP = "rollout_learner_logp_gap"         # mean |rollout logp - learner logp| per token
LOGP_GAP_MAX = "rollout_learner_logp_gap_max"
POLICY_LAG = "policy_lag"                     # mean updates the rows' sampling policy is
POLICY_LAG_MAX = "policy_lag_max"             # behind the learner (rollout_mode async: 1)
NUM_STEP_ROWS = "num_step_rows"
NUM_TRAJECTORIES = "num_trajectories"

# --- credit quality against the env's oracle step labels (`learners/default_policy/...`,
#     logged when the batch has labelled decisive steps; core/credit_metrics.py) ---
CREDIT_AUC_STEP_REWARD = "credit_auc_step_reward"  # AUC of r_phi, right vs wrong decisive steps
CREDIT_AUC_STEP_ADV = "credit_auc_step_adv"        # AUC of A_S (after step_adv_norm)
CREDIT_AUC_ADVANTAGE = "credit_auc_advantage"      # AUC of the final A(t) of the method
CREDIT_AUC_RLOO = "credit_auc_rloo"                # AUC of RLOO's episode advantage
CREDIT_AUC_GIGPO = "credit_auc_gigpo"              # AUC of GiGPO's anchor step advantage
CREDIT_GAP_SHARE = "credit_decisive_gap_share"     # winner-loser log-ratio gap on decisive steps
CREDIT_STEP_ADV_ABS_DECISIVE = "credit_step_adv_abs_decisive"  # mean |A_S|, decisive steps
CREDIT_STEP_ADV_ABS_OTHER = "credit_step_adv_abs_other"        # mean |A_S|, non-decisive steps
CREDIT_DECISIVE_STEPS = "credit_decisive_steps"    # labelled decisive steps in the batch
# same-state credit (learner/same_state_credit.py): P(right ranks above wrong at the same
# prompt). Every labelled action at each distinct decisive prompt:
CREDIT_STATE_PROMPTS = "credit_state_prompts"      # distinct decisive prompts in the batch
CREDIT_STATE_PAIRS = "credit_state_pairs"          # (right, wrong) pairs compared
CREDIT_STATE_STEP_REWARD = "credit_state_step_reward"    # r_phi (scoring reference)
CREDIT_STATE_PRM_PROGRESS = "credit_state_prm_progress"  # log pi_phi/pi_init (PRM learned)
CREDIT_STATE_DRIFT_TERM = "credit_state_drift_term"      # log pi_init/pi_old (- policy drift)
CREDIT_STATE_POLICY_DRIFT = "credit_state_policy_drift"  # log pi_old/pi_init (policy's own)
CREDIT_STATE_STEP_ADV = "credit_state_step_adv"          # A_S in the sampled step's place
CREDIT_STATE_DRIFT_NATS = "credit_state_drift_nats"      # mean |log pi_old - log pi_init|
                                                         # per candidate token (nats)
# ... and the sampled steps that share a decisive prompt:
CREDIT_SAMPLED_PAIRS = "credit_sampled_pairs"
CREDIT_SAMPLED_ADVANTAGE = "credit_sampled_advantage"    # the method's final A(t)
CREDIT_SAMPLED_STEP_REWARD = "credit_sampled_step_reward"  # r_phi
CREDIT_SAMPLED_STEP_ADV = "credit_sampled_step_adv"      # A_S
CREDIT_SAMPLED_RLOO = "credit_sampled_rloo"              # RLOO's episode advantage
CREDIT_SAMPLED_GIGPO = "credit_sampled_gigpo"            # GiGPO's anchor step advantage

# --- timers (`timers/...`) ---
TIMER_ROLLOUT = "rollout"
TIMER_LEARNER = "learner_update"
TIMER_OLD_LOGP = "old_logp"
TIMER_PRM_UPDATE = "prm_update"
TIMER_SCORING = "prm_scoring"
TIMER_POLICY_UPDATE = "policy_update"
TIMER_WEIGHT_SYNC = "weight_sync"
