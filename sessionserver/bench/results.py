"""A benchmark run's result and how it is printed."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

__all__ = ["Result", "format_table", "median"]


@dataclass(frozen=True)
class Result:
    """One target measured: cycles per second and cycle latency percentiles (microseconds),
    and the CPU microseconds per cycle of the processes serving it (None: not measured)."""

    target: str
    cycles_per_s: float
    p50_us: float
    p99_us: float
    errors: int
    driver: str
    cpu_us_per_cycle: float | None = None
    cycle: str = "text"
    rounds: int = 1

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def median(results: list[Result]) -> Result:
    """The median of rounds of one target, figure by figure (errors add up)."""
    first = results[0]
    cpu = [r.cpu_us_per_cycle for r in results if r.cpu_us_per_cycle is not None]
    return Result(
        target=first.target,
        cycles_per_s=statistics.median(r.cycles_per_s for r in results),
        p50_us=statistics.median(r.p50_us for r in results),
        p99_us=statistics.median(r.p99_us for r in results),
        errors=sum(r.errors for r in results),
        driver=first.driver,
        cpu_us_per_cycle=statistics.median(cpu) if cpu else None,
        cycle=first.cycle,
        rounds=len(results),
    )


def _cpu(result: Result) -> str:
    return "-" if result.cpu_us_per_cycle is None else f"{result.cpu_us_per_cycle:,.0f}"


def format_table(pairs: list[tuple[Result, Result]]) -> str:
    """One line per (target, Redis measured just before it) pair, with the ratios."""
    head = (
        f"{'target':<34} {'cycle':<12} {'cycles/s':>10} {'CPU us':>7} {'p99 ms':>7}"
        f" {'Redis c/s':>10} {'CPU us':>7} {'x cycles':>9} {'x CPU':>6} {'x p99':>6}"
    )
    lines = [head, "-" * len(head)]
    for result, redis in pairs:
        cpu_ratio = "-"
        if result.cpu_us_per_cycle is not None and redis.cpu_us_per_cycle:
            cpu_ratio = f"{result.cpu_us_per_cycle / redis.cpu_us_per_cycle:.2f}x"
        lines.append(
            f"{result.target:<34} {result.cycle:<12} {result.cycles_per_s:>10,.0f}"
            f" {_cpu(result):>7} {result.p99_us / 1000:>7.2f}"
            f" {redis.cycles_per_s:>10,.0f} {_cpu(redis):>7}"
            f" {result.cycles_per_s / redis.cycles_per_s:>8.2f}x {cpu_ratio:>6}"
            f" {result.p99_us / redis.p99_us:>5.2f}x"
        )
    return "\n".join(lines)
