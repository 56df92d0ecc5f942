"""Prompt templates for text environments.

A :class:`PromptTemplate` renders, in order (sections joined by ``separator``):

1. the task ``instruction``;
2. optionally a ``progress`` line (e.g. ``"steps taken {step} of {max_steps}"``);
3. if ``history`` is non-empty: ``history_header`` followed by one block per
   (observation, action) pair: ``history_observation <obs> history_action <action>``;
4. ``actions_header`` and the admissible actions separated by spaces;
5. the format hint for the env's ``action_format``: ``hint_tags`` (reason inside
   ``<think> </think>``, answer inside ``<action> </action>``) or ``hint_bare``
   (answer with one action word);
6. ``current_header`` and the current observation, last (``observation_last``, the
   default: its last word is the prompt's last word, which the tiny models need). With
   ``observation_last=False`` the current observation comes before the actions (3.5).

The template adds no punctuation of its own, so every word of a rendered prompt
is either a word of the template's fixed strings (:meth:`PromptTemplate.words`),
a word of an observation or action, or a number in the progress line. Envs
build their ``vocabulary()`` from these pieces, which keeps word-level
tokenizers free of unknown words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = ["PromptTemplate", "DEFAULT_HINT_TAGS", "DEFAULT_HINT_BARE", "number_words", "word_template"]

DEFAULT_HINT_TAGS = (
    "first think step by step inside <think> </think> "
    "then give exactly one admissible action inside <action> </action>"
)
DEFAULT_HINT_BARE = "answer with one action word"

_PLACEHOLDERS = ("{step}", "{max_steps}")


def number_words(upper: int) -> list[str]:
    """Decimal words ``"0" .. str(upper)`` (numbers a prompt may contain)."""
    return [str(i) for i in range(upper + 1)]


@dataclass(frozen=True)
class PromptTemplate:
    """The fixed text of an env's prompt; see the module docstring for the layout."""

    instruction: str
    history_header: str = "recent history"
    history_observation: str = "observation"
    history_action: str = "action"
    current_header: str = "current observation"
    actions_header: str = "admissible actions"
    hint_tags: str = DEFAULT_HINT_TAGS
    hint_bare: str = DEFAULT_HINT_BARE
    progress: str | None = None
    separator: str = "\n"
    #: put the current observation after the actions and the hint, so its last word is
    #: the prompt's last word. The default: a tiny model, which attends weakly, learns a
    #: task whose cue is in the observation only in this layout (a 2-step cue env at the
    #: tiny defaults: chance after 60 iterations with False). Sokoban, WebShop and Social
    #: set False (their observation before the actions).
    observation_last: bool = True

    def hint(self, action_format: str) -> str:
        """The format hint for ``action_format`` ("tags" | "bare")."""
        if action_format == "tags":
            return self.hint_tags
        if action_format == "bare":
            return self.hint_bare
        raise ValueError(f"unknown action_format {action_format!r}; valid: 'tags', 'bare'")

    def render(
        self,
        observation: str,
        history: Sequence[tuple[str, str]],
        admissible: Sequence[str],
        action_format: str,
        *,
        step: int | None = None,
        max_steps: int | None = None,
    ) -> str:
        """Render the full prompt text (see the module docstring for the layout)."""
        sep = self.separator
        parts = [self.instruction]
        if self.progress is not None and step is not None:
            parts.append(self.progress.format(step=step, max_steps=max_steps))
        if history:
            parts.append(self.history_header)
            for obs, act in history:
                parts.append(f"{self.history_observation}{sep}{obs}{sep}"
                             f"{self.history_action} {act if act else 'none'}")
        current = f"{self.current_header}{sep}{observation}"
        if not self.observation_last:
            parts.append(current)
        parts.append(f"{self.actions_header} {' '.join(admissible)}")
        parts.append(self.hint(action_format))
        if self.observation_last:
            parts.append(current)
        return sep.join(parts)

    def words(self) -> set[str]:
        """Every whitespace-separated word of the template's fixed strings.

        Placeholders of ``progress`` are dropped (their values are numbers; envs
        add :func:`number_words`). ``"none"`` is included: it stands for a
        history action that was invalid.
        """
        fixed = [self.instruction, self.history_header, self.history_observation,
                 self.history_action, self.current_header, self.actions_header,
                 self.hint_tags, self.hint_bare, "none"]
        if self.progress is not None:
            text = self.progress
            for ph in _PLACEHOLDERS:
                text = text.replace(ph, " ")
            fixed.append(text)
        return {w for s in fixed for w in s.split()}


def word_template(instruction: str) -> PromptTemplate:
    """The word-level template of the tiny-model envs (toy, CreditChain): short plain-word
    headers, the observation last so its deciding word is the prompt's final word."""
    return PromptTemplate(instruction=instruction, history_header="before",
                          history_observation="seen", history_action="did",
                          current_header="now", actions_header="actions", observation_last=True)

