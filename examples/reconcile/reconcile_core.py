"""Pure reconciliation logic: parse statement/ledger CSVs and match them.

Standard library only. No I/O beyond the text handed in.

Matching rule: a statement line and a ledger entry can pair up when their
amounts are exactly equal (as decimals, so ``10.5 == 10.50``) and their dates
are at most ``days`` apart. Every entry is used at most once. Among all ways
of pairing, the one chosen

1. matches as many entries as possible, then
2. has the smallest total date distance (closest dates win), then
3. has the most similar descriptions (``difflib`` ratio, case-insensitive).

So a line whose closest candidate is "taken" still finds another candidate in
the window instead of being left unmatched.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

COLUMNS = ("date", "description", "amount")
DEFAULT_DAYS = 3
MAX_DAYS = 365
MAX_ROWS = 10_000
# Components of the candidate graph up to this size (smaller side) get the
# optimal assignment; larger ones (pathological input: hundreds of identical
# amounts within a few days) fall back to greedy closest-date-first.
OPTIMAL_LIMIT = 60
_SIM_SCALE = 1000

_AMOUNT_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


class CsvError(ValueError):
    """A CSV file could not be read. ``line`` is 1-based, counting the header."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source} line {line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Entry:
    """One row of a statement or ledger."""

    line: int
    date: date
    description: str
    amount: Decimal

    def to_json(self) -> dict[str, object]:
        return {
            "line": self.line,
            "date": self.date.isoformat(),
            "description": self.description,
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class Match:
    statement: Entry
    ledger: Entry
    days_apart: int
    similarity: float

    def to_json(self) -> dict[str, object]:
        return {
            "statement": self.statement.to_json(),
            "ledger": self.ledger.to_json(),
            "days_apart": self.days_apart,
            "similarity": round(self.similarity, 3),
        }


@dataclass(frozen=True)
class Result:
    days: int
    matched: list[Match]
    unmatched_statement: list[Entry]
    unmatched_ledger: list[Entry]

    @property
    def reconciled(self) -> bool:
        return not self.unmatched_statement and not self.unmatched_ledger

    def totals(self) -> dict[str, object]:
        statement = [m.statement for m in self.matched] + self.unmatched_statement
        ledger = [m.ledger for m in self.matched] + self.unmatched_ledger
        return {
            "statement": _total(statement),
            "ledger": _total(ledger),
            "matched": _total(m.statement for m in self.matched),
            "unmatched_statement": _total(self.unmatched_statement),
            "unmatched_ledger": _total(self.unmatched_ledger),
            "difference": str(_sum(statement) - _sum(ledger)),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "days": self.days,
            "reconciled": self.reconciled,
            "matched": [m.to_json() for m in self.matched],
            "unmatched_statement": [e.to_json() for e in self.unmatched_statement],
            "unmatched_ledger": [e.to_json() for e in self.unmatched_ledger],
            "totals": self.totals(),
        }


def _sum(entries: Iterable[Entry]) -> Decimal:
    return sum((e.amount for e in entries), Decimal(0))


def _total(entries: Iterable[Entry]) -> dict[str, object]:
    items = list(entries)
    return {"count": len(items), "amount": str(_sum(items))}


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def parse_csv(text: str, source: str = "csv", *, max_rows: int = MAX_ROWS) -> list[Entry]:
    """Parse ``date,description,amount`` CSV text (header row required).

    Column order and case in the header are free; extra columns are ignored;
    blank lines are skipped. Raises :class:`CsvError` naming the line.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    index: dict[str, int] | None = None
    width = 0
    entries: list[Entry] = []
    previous_end = 0
    start = 1
    try:
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if index is None:
                index = _parse_header(row, source, start)
                width = len(row)
                continue
            if len(row) != width:
                raise CsvError(
                    source, start, f"expected {width} fields ({','.join(COLUMNS)}), got {len(row)}"
                )
            if len(entries) >= max_rows:
                raise CsvError(source, start, f"too many rows (limit is {max_rows})")
            entries.append(
                Entry(
                    line=start,
                    date=_parse_date(row[index["date"]], source, start),
                    description=" ".join(row[index["description"]].split()),
                    amount=_parse_amount(row[index["amount"]], source, start),
                )
            )
    except csv.Error as exc:
        raise CsvError(source, previous_end + 1, f"malformed CSV: {exc}") from None
    if index is None:
        raise CsvError(source, 1, f"file is empty; expected a header row {','.join(COLUMNS)}")
    return entries


def _parse_header(row: list[str], source: str, line: int) -> dict[str, int]:
    names = [cell.strip().lower() for cell in row]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        hint = ""
        try:
            date.fromisoformat(row[0].strip())
            hint = " (the first line must be the header)"
        except ValueError:
            pass
        raise CsvError(
            source,
            line,
            f"header is missing column(s) {', '.join(missing)}: expected "
            f"{','.join(COLUMNS)}, got {_shorten(','.join(row))!r}{hint}",
        )
    for column in COLUMNS:
        if names.count(column) > 1:
            raise CsvError(source, line, f"header has column {column!r} more than once")
    return {column: names.index(column) for column in COLUMNS}


def _parse_date(value: str, source: str, line: int) -> date:
    value = value.strip()
    if not value:
        raise CsvError(source, line, "missing date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CsvError(
            source, line, f"invalid date {_shorten(value)!r}: expected YYYY-MM-DD"
        ) from None


def _parse_amount(value: str, source: str, line: int) -> Decimal:
    value = value.strip()
    if not value:
        raise CsvError(source, line, "missing amount")
    if not _AMOUNT_RE.fullmatch(value):
        raise CsvError(
            source,
            line,
            f"invalid amount {_shorten(value)!r}: expected a decimal number like -12.50 "
            "(no currency symbols or thousands separators)",
        )
    return Decimal(value)


def description_similarity(a: str, b: str) -> float:
    """0.0 (nothing in common) .. 1.0 (same text, ignoring case and spacing)."""
    a = " ".join(a.lower().split())
    b = " ".join(b.lower().split())
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def reconcile(
    statement: Sequence[Entry], ledger: Sequence[Entry], days: int = DEFAULT_DAYS
) -> Result:
    """Pair statement lines with ledger entries (see module docstring for the rule)."""
    if not 0 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 0 and {MAX_DAYS}, got {days}")
    ledger_by_amount: dict[Decimal, list[int]] = defaultdict(list)
    for j, entry in enumerate(ledger):
        ledger_by_amount[entry.amount].append(j)
    statement_by_amount: dict[Decimal, list[int]] = defaultdict(list)
    for i, entry in enumerate(statement):
        statement_by_amount[entry.amount].append(i)

    similarity = _Similarity(statement, ledger)
    pairs: list[tuple[int, int]] = []
    for amount, rows in statement_by_amount.items():
        cols = ledger_by_amount.get(amount)
        if cols:
            pairs.extend(_match_group(statement, ledger, rows, cols, days, similarity))

    used_statement = {i for i, _ in pairs}
    used_ledger = {j for _, j in pairs}
    matched = []
    for i, j in sorted(pairs):
        s, lg = statement[i], ledger[j]
        matched.append(
            Match(
                statement=s,
                ledger=lg,
                days_apart=abs((s.date - lg.date).days),
                similarity=description_similarity(s.description, lg.description),
            )
        )
    return Result(
        days=days,
        matched=matched,
        unmatched_statement=[e for i, e in enumerate(statement) if i not in used_statement],
        unmatched_ledger=[e for j, e in enumerate(ledger) if j not in used_ledger],
    )


_Edge = tuple[int, int, int]  # (statement index, ledger index, days apart)


class _Similarity:
    """Description similarity of a candidate pair on an integer scale, cached."""

    def __init__(self, statement: Sequence[Entry], ledger: Sequence[Entry]) -> None:
        self._statement = statement
        self._ledger = ledger
        self._cache: dict[tuple[str, str], int] = {}

    def __call__(self, row: int, col: int) -> int:
        key = (self._statement[row].description, self._ledger[col].description)
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = round(description_similarity(*key) * _SIM_SCALE)
        return value


def _match_group(
    statement: Sequence[Entry],
    ledger: Sequence[Entry],
    rows: list[int],
    cols: list[int],
    days: int,
    similarity: _Similarity,
) -> list[tuple[int, int]]:
    """Match entries that share one amount. Returns (statement, ledger) index pairs."""
    cols = sorted(cols, key=lambda j: ledger[j].date)
    col_dates = [ledger[j].date for j in cols]
    window = timedelta(days=days)
    edges: list[_Edge] = []
    for i in rows:
        d = statement[i].date
        lo = bisect_left(col_dates, d - window)
        hi = bisect_right(col_dates, d + window)
        edges.extend((i, j, abs((d - ledger[j].date).days)) for j in cols[lo:hi])

    pairs: list[tuple[int, int]] = []
    for component in _components(edges):
        rows_in = sorted({e[0] for e in component})
        cols_in = sorted({e[1] for e in component})
        if min(len(rows_in), len(cols_in)) <= OPTIMAL_LIMIT:
            pairs.extend(_optimal(component, rows_in, cols_in, days, similarity))
        else:
            pairs.extend(_greedy(component, similarity))
    return pairs


def _components(edges: list[_Edge]) -> list[list[_Edge]]:
    """Split the candidate graph into connected components (union-find)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for row, col, _ in edges:
        a, b = find(("s", row)), find(("l", col))
        if a != b:
            parent[a] = b
    groups: dict[tuple[str, int], list[_Edge]] = defaultdict(list)
    for edge in edges:
        groups[find(("s", edge[0]))].append(edge)
    return list(groups.values())


def _optimal(
    edges: list[_Edge], rows: list[int], cols: list[int], days: int, similarity: _Similarity
) -> list[tuple[int, int]]:
    """Most pairs, then least total date distance, then most similar descriptions."""
    # Integer costs: one day of total date distance outweighs any sum of
    # description dissimilarities, and one missed pair outweighs everything.
    k = min(len(rows), len(cols))
    day_weight = _SIM_SCALE * (k + 1)
    forbidden = (days * day_weight + _SIM_SCALE) * (k + 1) + 1
    transpose = len(rows) > len(cols)  # the assignment wants rows <= columns
    left, right = (cols, rows) if transpose else (rows, cols)
    left_pos = {x: n for n, x in enumerate(left)}
    right_pos = {x: n for n, x in enumerate(right)}
    cost = [[forbidden] * len(right) for _ in left]
    for row, col, apart in edges:
        a, b = (col, row) if transpose else (row, col)
        cost[left_pos[a]][right_pos[b]] = apart * day_weight + _SIM_SCALE - similarity(row, col)
    pairs = []
    for a, b in enumerate(_hungarian(cost)):
        if cost[a][b] < forbidden:
            x, y = left[a], right[b]
            pairs.append((y, x) if transpose else (x, y))
    return pairs


def _greedy(edges: list[_Edge], similarity: _Similarity) -> list[tuple[int, int]]:
    """Closest dates first, then most similar descriptions. For very large components."""
    by_days: dict[int, list[_Edge]] = defaultdict(list)
    for edge in edges:
        by_days[edge[2]].append(edge)
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for apart in sorted(by_days):
        live = [e for e in by_days[apart] if e[0] not in used_rows and e[1] not in used_cols]
        live.sort(key=lambda e: (-similarity(e[0], e[1]), e[0], e[1]))
        for row, col, _ in live:
            if row not in used_rows and col not in used_cols:
                used_rows.add(row)
                used_cols.add(col)
                pairs.append((row, col))
    return pairs


def _hungarian(cost: list[list[int]]) -> list[int]:
    """Minimum-cost assignment for an n x m matrix with n <= m.

    Returns, for each row, the column assigned to it. Classic O(n^2 m)
    potentials formulation (1-based internally).
    """
    n, m = len(cost), len(cost[0])
    inf = 1 << 128  # larger than any reduced cost
    u = [0] * (n + 1)
    v = [0] * (m + 1)
    p = [0] * (m + 1)  # p[j]: row assigned to column j (0 = none)
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    assignment = [0] * n
    for j in range(1, m + 1):
        if p[j]:
            assignment[p[j] - 1] = j - 1
    return assignment


SAMPLE_STATEMENT = """\
date,description,amount
2024-03-01,CARD PAYMENT ACME OFFICE SUPPLIES,-84.20
2024-03-02,SEPA TRANSFER NORTHWIND LTD INV 1043,1250.00
2024-03-04,DIRECT DEBIT CITY POWER,-132.57
2024-03-05,CARD PAYMENT CAFE LUNA,-12.40
2024-03-05,CARD PAYMENT CAFE LUNA,-12.40
2024-03-08,BANK FEE MARCH,-4.95
"""

SAMPLE_LEDGER = """\
date,description,amount
2024-02-29,Acme office supplies - toner,-84.20
2024-03-02,Northwind Ltd invoice 1043,1250.00
2024-03-01,City Power electricity March,-132.57
2024-03-05,Team lunch Cafe Luna,-12.40
2024-03-06,Rent March,-1800.00
"""
