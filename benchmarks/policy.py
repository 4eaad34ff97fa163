"""Benchmark of the platform policy: decisions per second and the cost of one state change
with 10, 100 and 1000 sessions, and how that cost grows (run: python benchmarks/policy.py)."""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from audiosession.policy import Arbiter
from audiosession.types import AudioSessionType as T

SIZES = (10, 100, 1000)


def contexts_for(n: int) -> int:
    """Sessions are spread over n / 4 windows (at least 2)."""
    return max(2, n // 4)


def build(n: int, active: int) -> Arbiter:
    """``n`` registered sessions over ``contexts_for(n)`` windows; the first ``active`` of them
    play as ambient (one as playback), the rest are idle; two more sessions ("ping", "call")
    stand ready in windows of their own."""
    policy = Arbiter()
    contexts = contexts_for(n)
    for i in range(n):
        policy.add(f"s{i}", f"w{i % contexts}", f"owner{i}")
    for i in range(active):
        policy.request_active(f"s{i}", T.PLAYBACK if i == 0 else T.AMBIENT)
    policy.add("ping", "w-ping", "notifier")
    policy.add("call", "w-call", "softphone")
    return policy


def per_call(setup: Callable[[], Arbiter], step: Callable[[Arbiter], object], runs: int) -> float:
    """Median seconds of ``step`` on a fresh arbiter from ``setup`` (setup not timed)."""
    times = []
    for _ in range(runs):
        policy = setup()
        start = time.perf_counter()
        step(policy)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decisions_per_second(n: int, ops: int, seed: int = 1) -> float:
    """Random requests (random types), releases and type changes on ``n`` sessions."""
    rng = random.Random(seed)
    policy = build(n, 0)
    types = [T.AMBIENT, T.TRANSIENT, T.PLAYBACK, T.TRANSIENT_SOLO, T.PLAY_AND_RECORD]
    weights = [6, 3, 2, 1, 1]
    plan = []
    for _ in range(ops):
        session = f"s{rng.randrange(n)}"
        what = rng.random()
        plan.append((session, what, rng.choices(types, weights)[0]))
    start = time.perf_counter()
    for session, what, type_ in plan:
        if what < 0.55:
            policy.request_active(session, type_)
        elif what < 0.95:
            policy.release(session)
        else:
            policy.set_type(session, type_)
    return ops / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per figure (median)")
    parser.add_argument("--ops", type=int, default=20000, help="operations for decisions/s")
    args = parser.parse_args()

    rows: dict[str, dict[int, float]] = {}

    def measure(
        name: str,
        active: Callable[[int], int],
        step: Callable[[Arbiter], object],
        prepare: Callable[[Arbiter], object] | None = None,
    ) -> None:
        rows[name] = {}
        for n in SIZES:

            def setup(n: int = n) -> Arbiter:
                policy = build(n, active(n))
                if prepare is not None:
                    prepare(policy)
                return policy

            rows[name][n] = per_call(setup, step, args.runs)

    # The common case: many sessions registered, a handful playing.
    measure(
        "notify, 3 playing (duck)", lambda n: 3, lambda p: p.request_active("ping", T.TRANSIENT)
    )
    measure(
        "notify ends, 3 playing",
        lambda n: 3,
        lambda p: p.release("ping"),
        lambda p: p.request_active("ping", T.TRANSIENT),
    )
    measure(
        "call, 3 playing (pause)",
        lambda n: 3,
        lambda p: p.request_active("call", T.PLAY_AND_RECORD),
    )
    measure(
        "call ends, 3 resume",
        lambda n: 3,
        lambda p: p.release("call"),
        lambda p: p.request_active("call", T.PLAY_AND_RECORD),
    )
    # The worst case: every session plays, and the change touches all of them.
    measure(
        "notify, all playing (duck all)",
        lambda n: n,
        lambda p: p.request_active("ping", T.TRANSIENT),
    )
    measure(
        "notify ends, all unduck",
        lambda n: n,
        lambda p: p.release("ping"),
        lambda p: p.request_active("ping", T.TRANSIENT),
    )
    measure(
        "call, all playing (pause all)",
        lambda n: n,
        lambda p: p.request_active("call", T.PLAY_AND_RECORD),
    )
    measure(
        "call ends, all resume",
        lambda n: n,
        lambda p: p.release("call"),
        lambda p: p.request_active("call", T.PLAY_AND_RECORD),
    )

    print(f"audiosession policy benchmark (median of {args.runs} runs; sessions over n/4 windows)")
    print()
    header = f"{'one state change':34}" + "".join(f"{f'n={n}':>12}" for n in SIZES)
    header += f"{'x 10->1000':>12}"
    print(header)
    print("-" * len(header))
    for name, figures in rows.items():
        cells = "".join(f"{figures[n] * 1e6:>10.1f}us" for n in SIZES)
        growth = figures[SIZES[-1]] / figures[SIZES[0]]
        print(f"{name:34}{cells}{growth:>11.1f}x")
    print()
    print("random request / release / set_type mix (decisions per second):")
    base = None
    for n in SIZES:
        rate = decisions_per_second(n, args.ops)
        base = base or rate
        print(f"  n={n:<5} {rate:>10,.0f}/s   ({rate / base:.2f} of n=10)")


if __name__ == "__main__":
    main()
