"""Clean code: nothing for bandit to report at any level."""

import json


def total(expression: str) -> int:
    return sum(int(part) for part in json.loads(expression))
