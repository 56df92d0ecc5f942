"""Time the text envs on CPU: Sokoban 6x6/1-box step (room generation excluded),
Sokoban reset (generation), and the KeyCorridor toy. Prints, asserts nothing.

Usage (from the repository root): python -m benchmarks.env_step_time [--steps 20000]
"""
from __future__ import annotations

import argparse
import random
import time


def time_sokoban_steps(n_steps: int) -> tuple[float, float]:
    """Mean ms per step, and per step incl. parsing, excluding room generation."""
    from rllib_istar.envs.sokoban import SokobanTextEnv

    env = SokobanTextEnv({"max_steps": 10**9})  # never truncates: no resets inside the loop
    rng = random.Random(0)
    words = ["up", "down", "left", "right"]
    texts = [f"<think>push</think><action>{rng.choice(words)}</action>" for _ in range(n_steps)]
    env.reset(seed=0)
    total, done_steps, seed = 0.0, 0, 0
    i = 0
    while done_steps < n_steps:
        start = time.perf_counter()
        while i < len(texts):
            _, _, terminated, _, _ = env.step(texts[i])
            i += 1
            done_steps += 1
            if terminated:
                break
        total += time.perf_counter() - start
        seed += 1
        env.reset(seed=seed)  # outside the timed region
    return 1e3 * total / done_steps, done_steps


def time_sokoban_resets(n: int) -> float:
    from rllib_istar.envs.sokoban import SokobanTextEnv

    env = SokobanTextEnv()
    start = time.perf_counter()
    for seed in range(n):
        env.reset(seed=seed)
    return 1e3 * (time.perf_counter() - start) / n


def time_toy(n: int) -> tuple[float, float]:
    from rllib_istar.envs import KeyCorridorEnv

    env = KeyCorridorEnv()
    start = time.perf_counter()
    for seed in range(n):
        env.reset(seed=seed)
    reset_us = 1e6 * (time.perf_counter() - start) / n
    env.reset(seed=0)
    plan = [env.door, "forward", "forward", "open"]
    start = time.perf_counter()
    for k in range(n):
        _, _, term, trunc, _ = env.step(plan[k % 4])
        if term or trunc:
            env.reset(seed=0)
    return reset_us, 1e6 * (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--resets", type=int, default=300)
    args = ap.parse_args()
    step_ms, n = time_sokoban_steps(args.steps)
    print(f"sokoban 6x6/1 box step (parse + legacy step + text obs): {step_ms:.3f} ms "
          f"over {n} steps (target < 1 ms)")
    print(f"sokoban 6x6/1 box reset (room generation, search_depth 30): "
          f"{time_sokoban_resets(args.resets):.3f} ms over {args.resets} resets")
    reset_us, step_us = time_toy(args.steps)
    print(f"key corridor: reset {reset_us:.1f} us (seeded), step {step_us:.1f} us")


if __name__ == "__main__":
    main()
