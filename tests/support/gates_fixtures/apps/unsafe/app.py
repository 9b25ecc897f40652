"""Deliberately unsafe: bandit must flag eval() (B307, medium severity, high confidence)."""


def total(expression: str) -> int:
    return int(eval(expression))


def check(value: int) -> None:
    assert value >= 0  # B101: low severity, below the default threshold
