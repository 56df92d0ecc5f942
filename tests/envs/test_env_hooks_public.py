"""The hooks a user implements have public names; the old private names still work for
one release with a DeprecationWarning; an env needs no vocabulary hook."""
import warnings

import pytest

from rllib_istar.envs import PromptTemplate, TextEnv, register_text_env
from rllib_istar.envs.base import OLD_HOOK_NAMES
from rllib_istar.envs.vocabulary_probe import class_vocabulary, probe_vocabulary

WAYS = ["left", "right"]


class Signpost(TextEnv):
    """The docs' recipe: no extra_vocabulary."""

    DEFAULT_CONFIG = {"action_format": "bare", "max_steps": 2}
    PROMPT = PromptTemplate(instruction="walk the way the sign shows then walk any way")

    def admissible_actions(self):
        return list(WAYS)

    def reset_task(self, task_seed, options):
        self.sign, self.first = WAYS[task_seed % len(WAYS)], None
        return self.sign

    def apply_action(self, action):
        if self.first is None:
            self.first = action
            return "crossroads", 0.0, False, False
        won = self.first == self.sign
        return "crossroads", float(won), True, won

    def noop(self):
        return self.current_observation, 0.0


def test_vocabulary_is_found_by_playing_the_env():
    words = set(Signpost.vocabulary())
    assert {"left", "right", "crossroads"} <= words          # observations and actions
    assert {"walk", "sign", "shows"} <= words                # the prompt template's
    assert probe_vocabulary(Signpost) == probe_vocabulary(Signpost)  # deterministic


def test_the_env_is_played_once_per_class_however_often_its_words_are_asked_for():
    built = []

    class Counted(Signpost):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    first = Counted.vocabulary()
    assert Counted.vocabulary() == first and len(built) == 1
    assert class_vocabulary.cache_info().currsize >= 1


def test_a_word_only_in_an_unvisited_state_is_missed_and_an_override_adds_it():
    class Rare(Signpost):
        def reset_task(self, task_seed, options):
            super().reset_task(task_seed, options)
            return "eclipse" if task_seed == 1000 else self.sign

    assert "eclipse" not in Rare.vocabulary()   # seed 1000 is never probed

    class Listed(Rare):
        @classmethod
        def extra_vocabulary(cls):
            return [*WAYS, "crossroads", "eclipse"]

    assert "eclipse" in Listed.vocabulary()


def test_an_env_that_cannot_be_played_with_its_defaults_says_how_to_fix_it():
    class Broken(Signpost):
        def reset_task(self, task_seed, options):
            raise RuntimeError("needs a data file")

    with pytest.raises(ValueError, match="override extra_vocabulary"):
        Broken.vocabulary()


def test_old_hook_names_warn_and_still_work(scratch_ids):
    with pytest.warns(DeprecationWarning, match="_apply is the old name of the TextEnv hook "
                                                "'apply_action'"):
        class Old(TextEnv):
            DEFAULT_CONFIG = {"action_format": "bare", "max_steps": 2}
            PROMPT = PromptTemplate(instruction="walk the way the sign shows")

            @classmethod
            def _extra_vocabulary(cls):
                return [*WAYS, "crossroads"]

            def admissible_actions(self):
                return list(WAYS)

            def _reset_task(self, task_seed, options):
                self.sign = WAYS[task_seed % 2]
                return self.sign

            def _apply(self, action):
                won = action == self.sign
                return "crossroads", float(won), True, won

            def _noop(self):
                return self.current_observation, 0.0

            def _info(self, parsed):
                return dict(super()._info(parsed), old_style=True)

    scratch_ids.append("test/OldHooks-v0")
    register_text_env("test/OldHooks-v0", Old)   # passes the contract check
    env = Old()
    obs, info = env.reset(seed=1)
    assert obs == "right" and info["old_style"] is True
    _, reward, terminated, _, info = env.step("right")
    assert (reward, terminated, info["won"]) == (1.0, True, True)
    assert "crossroads" in Old.vocabulary()


def test_a_class_with_the_new_names_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)

        class New(Signpost):
            pass

    assert New().reset(seed=0)[0] == "left"
    assert set(OLD_HOOK_NAMES.values()) <= {n for n in dir(TextEnv)}
