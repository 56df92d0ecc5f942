"""Implicit step rewards of the iStar PRM (docs/algorithm.md §1).

One row is one step ``t``: the PRM's and the rollout policy's log-probs of
that step's response tokens ``a_t`` given its prompt ``p_t``, padded to
``T``. ``response_mask`` is True on the response tokens of the step and
False on prompt tokens and padding. Masked positions are dropped with
:func:`torch.where`, so they may hold anything (``nan``/``inf`` included)
without reaching the result or the gradient.

    r_phi(p_t, a_t) = beta * sum_{k in a_t} [log pi_phi(a_t^k | ...) - log pi_old(a_t^k | ...)]
"""
from __future__ import annotations

import torch

from rllib_istar.core.segments import as_bool_mask, masked_sum

__all__ = ["step_logratio", "implicit_step_rewards", "token_implicit_rewards", "token_logratio"]


def token_logratio(prm_logp: torch.Tensor, old_logp: torch.Tensor,
                   response_mask: torch.Tensor) -> torch.Tensor:
    """Per-token log-ratio ``log pi_phi - log pi_old``, 0 outside the response.

    Shapes: ``prm_logp, old_logp, response_mask (N, T)`` -> ``(N, T)``.
    docs/algorithm.md §1 (the summand). Gradient flows to ``prm_logp`` at
    response positions only.

    ```pycon
    >>> token_logratio(torch.tensor([[-9., -1., -2.]]), torch.tensor([[0., -1.5, -1.]]),
    ...                torch.tensor([[0, 1, 1]])).tolist()
    [[0.0, 0.5, -1.0]]

    ```
    """
    mask = as_bool_mask(response_mask)
    diff = prm_logp - old_logp
    return torch.where(mask, diff, torch.zeros_like(diff))


def step_logratio(prm_logp: torch.Tensor, old_logp: torch.Tensor,
                  response_mask: torch.Tensor) -> torch.Tensor:
    """Unscaled step log-ratio ``sum_{k in a_t} (log pi_phi - log pi_old)``.

    Shapes: ``(N, T)`` inputs -> ``(N,)``. docs/algorithm.md §1 without ``beta``;
    this is the quantity the trajectory DPO loss (§2) aggregates. A row
    with an empty response gives 0.

    ```pycon
    >>> step_logratio(torch.tensor([[-9., -1., -2.]]), torch.tensor([[0., -1.5, -1.]]),
    ...               torch.tensor([[0, 1, 1]])).tolist()
    [-0.5]

    ```
    """
    return masked_sum(prm_logp - old_logp, response_mask, dim=-1)


def implicit_step_rewards(prm_logp: torch.Tensor, old_logp: torch.Tensor,
                          response_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Implicit step reward ``r_phi(p_t, a_t)`` of every step (docs/algorithm.md §1).

    Shapes: ``prm_logp, old_logp (N, T)`` float, ``response_mask (N, T)``
    bool/0-1 (True on the step's response tokens; prompt and padding False)
    -> ``(N,)``: ``beta * sum over response tokens of (prm_logp - old_logp)``.

    Example: prompt token first, then two response tokens, then padding;
    beta 0.5: ``0.5 * ((-1 + 1.5) + (-2 + 1)) = -0.25``.

    ```pycon
    >>> implicit_step_rewards(torch.tensor([[-9., -1., -2., 0.]]),
    ...                       torch.tensor([[0., -1.5, -1., 7.]]),
    ...                       torch.tensor([[0, 1, 1, 0]]), beta=0.5).tolist()
    [-0.25]

    ```
    """
    return beta * step_logratio(prm_logp, old_logp, response_mask)


def token_implicit_rewards(prm_logp: torch.Tensor, old_logp: torch.Tensor,
                           response_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Token-level implicit rewards ``beta * (log pi_phi - log pi_old)``, 0 off-response.

    Shapes: ``(N, T)`` inputs -> ``(N, T)``. Used by the token-level-PR
    ablation and PRIME (docs/algorithm.md §5); summing a row over ``T`` gives
    :func:`implicit_step_rewards`.

    ```pycon
    >>> token_implicit_rewards(torch.tensor([[-9., -1., -2.]]), torch.tensor([[0., -1.5, -1.]]),
    ...                        torch.tensor([[0, 1, 1]]), beta=0.5).tolist()
    [[0.0, 0.25, -0.5]]

    ```
    """
    return beta * token_logratio(prm_logp, old_logp, response_mask)
