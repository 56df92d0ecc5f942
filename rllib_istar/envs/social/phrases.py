"""Every fixed string the social building blocks say or show: partner lines, keyword
sets, the judge rubric. Kept in one place so :func:`.scenarios.vocabulary` can list
every word a prompt, a scripted reply or a judge prompt may contain (a tiny
word-level tokenizer then has no unknown words).

Lines are lower-case plain words without punctuation; ``{p}`` is a price, ``{item}``,
``{request}``, ``{name}`` and ``{reveal}`` are filled from the scenario.
"""
from __future__ import annotations

__all__ = [
    "ACCEPT_WORDS", "REFUSE_WORDS", "POLITE_WORDS", "REASON_WORDS", "RUDE_WORDS",
    "LEAVE_WORDS", "TRUST_WORDS", "SELLER_LINES", "BUYER_LINES", "RESPONDER_LINES", "ASKER_LINES",
    "KEEPER_LINES", "PROBER_LINES", "SMALL_TALK", "BACKGROUND", "JUDGE_RUBRIC",
    "ROLE_MARKERS", "fixed_texts",
]

#: An utterance with one of these (and none of :data:`REFUSE_WORDS`) accepts a deal.
ACCEPT_WORDS = ("deal", "agreed", "accept")
#: Negations: an utterance with one of these never counts as a yes or an acceptance.
REFUSE_WORDS = ("no", "not", "never", "sorry")
POLITE_WORDS = ("please", "kindly", "would you", "could you")
REASON_WORDS = ("because", "since", "so that", "as i")
#: Each of the speaker's utterances with one of these costs 2 social_rules points.
RUDE_WORDS = ("stupid", "idiot", "shut up", "liar", "dumb", "hate you", "useless")
#: The reference's leave rule: the episode ends when the last utterance has one.
LEAVE_WORDS = ("left", "leave", "bye", "have a good")
#: A keeper tells its secret only to an asker who uses one of these (scripted partner).
TRUST_WORDS = ("promise", "trust")
#: Role markers a policy must not emit inside its utterance (see ``dialogue.py``; a
#: ``turn <number>`` header is checked there too).
ROLE_MARKERS = ("said:", "assistant:", "user:", "system:", "<|im_start|>",
                "<|im_end|>", "<action>", "</action>", "<think>", "</think>")

SELLER_LINES = {
    "open": "hello the {item} is {p} dollars",
    "counter": "i can do {p} dollars for the {item}",
    "floor": "sorry i can not go below {p} dollars",
    "accept": "deal {p} dollars it is",
}
BUYER_LINES = {
    "open": "hello i can offer {p} dollars for the {item}",
    "counter": "i can offer {p} dollars",
    "ceiling": "sorry {p} dollars is all i can pay",
    "accept": "deal {p} dollars it is",
}
RESPONDER_LINES = {
    "yes": "yes i will {request}",
    "yes_item": "yes you can have my {item}",
    "why": "why do you need that",
    "nice": "please ask me in a nice way",
    "no": "sorry no i can not do that",
}
ASKER_LINES = {
    "ask": "could you please {request} because i really need your help",
    "again": "please i really need this",
    "thanks": "thank you so much bye",
    "give_up": "ok i understand bye",
}
KEEPER_LINES = {
    "deflect": "i would rather not say",
    "reveal": "{reveal}",
}
PROBER_LINES = {"done": "ok thanks bye"}
SMALL_TALK = ("hello how are you", "i see", "tell me more", "ok thanks bye")

#: The scenario background one side sees (``dialogue.background``).
BACKGROUND = {
    "setting": "scenario {setting}",
    "you": "you are {name} a {occupation} {bio}",
    "other": "you talk with {name} a {occupation}",
    "other_bio": "about {name} {bio}",
    "relationship": "relationship {relationship}",
    "goal": "your goal {goal}",
    "secret": "your secret {secret}",
    "turn": "turn {k} {name} said {text}",
    "next": "turn {k} {name} said",
}

#: The judge rubric (HF and OpenAI-compatible judges).
JUDGE_RUBRIC = {
    "intro": "you judge a social talk between two people",
    "setting": "scenario {setting}",
    "person": "person {name} a {occupation} goal {goal} secret {secret}",
    "no_secret": "none",
    "talk": "the talk",
    "ask": "rate {name} on {dimension} from {lo} to {hi}",
    "score": "score",
    "json": ("reply with one json object whose keys are the dimensions and whose values "
             "are integer scores in these ranges"),
}


def fixed_texts() -> list[str]:
    """Every fixed string above (keyword sets, lines, templates)."""
    out: list[str] = []
    for group in (ACCEPT_WORDS, REFUSE_WORDS, POLITE_WORDS, REASON_WORDS, RUDE_WORDS,
                  LEAVE_WORDS, TRUST_WORDS, SMALL_TALK):
        out.extend(group)
    for table in (SELLER_LINES, BUYER_LINES, RESPONDER_LINES, ASKER_LINES, KEEPER_LINES, PROBER_LINES,
                  BACKGROUND, JUDGE_RUBRIC):
        out.extend(table.values())
    return out
