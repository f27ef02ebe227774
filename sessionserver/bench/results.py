"""A benchmark run's result and how it is printed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Result", "format_table"]


@dataclass(frozen=True)
class Result:
    """One target measured: cycles per second and cycle latency percentiles (microseconds)."""

    target: str
    cycles_per_s: float
    p50_us: float
    p99_us: float
    errors: int
    driver: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def format_table(pairs: list[tuple[Result, Result]]) -> str:
    """One line per (target, Redis measured just before it) pair, with the ratios."""
    head = (
        f"{'target':<34} {'cycles/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'Redis cycles/s':>15} {'Redis p99':>10} {'x cycles':>9} {'x p99':>7}"
    )
    lines = [head, "-" * len(head)]
    for result, redis in pairs:
        lines.append(
            f"{result.target:<34} {result.cycles_per_s:>10,.0f} {result.p50_us / 1000:>8.2f}"
            f" {result.p99_us / 1000:>8.2f} {redis.cycles_per_s:>15,.0f}"
            f" {redis.p99_us / 1000:>10.2f}"
            f" {result.cycles_per_s / redis.cycles_per_s:>8.2f}x"
            f" {result.p99_us / redis.p99_us:>6.2f}x"
        )
    return "\n".join(lines)
