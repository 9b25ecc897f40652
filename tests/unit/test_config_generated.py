"""Generated hostile shipyard.yml files through the real `shipyard config check`.

Each generated file is a valid config with one hostile change (a control character, a
bad tag, an alias bomb, an injected nginx directive, a duplicate key...), or random
text or bytes. Every one must end in exit code 2 with a message that names the file
and a line, print no traceback, and finish within a 2-second safety bound (a timeout
that interrupts the case, not a benchmark).
"""

from __future__ import annotations

import json
import re
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.main import get_command

from shipyard.cli.main import app

# the real `shipyard` command, built from the Typer app once (building it costs more
# than checking a config)
SHIPYARD = get_command(app)

EXAMPLES = 600
CASE_TIMEOUT = 2.0

BASE = [
    "app: shop",
    "start: python3 app.py",
    "root: /srv/shipyard",
    "nginx:",
    "  listen: 127.0.0.1:8080",
    "env:",
    "  LOG_LEVEL: info",
    "workers:",
    "  queue: {command: python3 worker.py}",
    "environments:",
    "  staging:",
    "    hosts: [deploy@10.0.0.5]",
    "  production:",
    "    hosts: [deploy@10.0.0.6, deploy@10.0.0.7]",
    "    promotion: {requires: staging}",
]
VALUE_LINES = [0, 1, 2, 4, 6, 11]  # lines of the form `key: value`


def text_of(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value)


def replace_value(lines: list[str], index: int, value: str) -> list[str]:
    key, _, _ = lines[index].partition(": ")
    return [*lines[:index], f"{key}: {value}", *lines[index + 1 :]]


# YAML reads these words as null or booleans, not as names (`requires: null` is valid)
YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off"}
names = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda name: name not in YAML_WORDS
)
# characters nginx.conf or supervisord.conf would read as syntax, or that are not ASCII
hostile_chars = st.sampled_from(
    [";", "{", "}", "\n", "\r", "%", " ", "#", "'", '"', "\t", "\x00", "$", "\\", "é", "٣"]
)


@st.composite
def hostile_value_in_field(draw: st.DrawFn) -> bytes:
    """A value that reaches supervisord.conf, nginx.conf or a host, with a bad character."""
    field = draw(
        st.sampled_from(
            [
                ("  listen: ", "127.0.0.1:80{}"),
                ("root: ", "/srv/{}x"),
                ("app: ", "shop{}"),
                ("  queue: ", None),
                ("    hosts: ", None),
                ("  LOG_LEVEL: ", None),
            ]
        )
    )
    char = draw(hostile_chars)
    prefix, pattern = field
    lines = list(BASE)
    index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
    if prefix == "  queue: ":  # a worker name
        lines[index] = f"  {quoted('queue' + char)}: {{command: run}}"
    elif prefix == "    hosts: ":  # an SSH host
        lines[index] = f"    hosts: [{quoted('deploy@10.0.0.5' + char)}]"
    elif prefix == "  LOG_LEVEL: ":  # an environment variable name
        lines[index] = f"  {quoted('LOG_LEVEL' + char)}: info"
    else:
        assert pattern is not None
        extra = draw(st.text("abc:/;{} ", max_size=6))
        lines[index] = prefix + quoted(pattern.format(char + extra))
    if prefix == "  listen: " and char == "٣":
        lines[index] = prefix + quoted("127.0.0.1:80" + char)
    return text_of(lines).encode()


@st.composite
def control_character(draw: st.DrawFn) -> bytes:
    lines = list(BASE)
    index = draw(st.integers(0, len(lines) - 1))
    char = chr(draw(st.sampled_from([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])))
    at = draw(st.integers(0, len(lines[index])))
    lines[index] = lines[index][:at] + char + lines[index][at:]
    return text_of(lines).encode()


@st.composite
def bad_tag(draw: st.DrawFn) -> bytes:
    tag = draw(st.sampled_from(["!!int", "!!float", "!!bool", "!!timestamp"]))
    # letters that spell no YAML boolean (yes/no/on/off/true...), inf or nan
    word = draw(st.text("ghijklmpqrsuvwxz", min_size=1, max_size=10))
    value = f"{tag} {word}"
    return text_of(replace_value(BASE, draw(st.sampled_from(VALUE_LINES)), value)).encode()


@st.composite
def bad_date(draw: st.DrawFn) -> bytes:
    year = draw(st.integers(1000, 9999))
    month, day = draw(
        st.one_of(
            st.tuples(st.integers(13, 99), st.integers(1, 28)),
            st.tuples(st.integers(1, 12), st.integers(32, 99)),
        )
    )
    value = f"{year}-{month:02d}-{day:02d}"
    return text_of(replace_value(BASE, draw(st.sampled_from(VALUE_LINES)), value)).encode()


@st.composite
def huge_number(draw: st.DrawFn) -> bytes:
    digits = "1" + "7" * draw(st.integers(4300, 6000))
    return text_of(replace_value(BASE, draw(st.sampled_from(VALUE_LINES)), digits)).encode()


@st.composite
def alias_bomb(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(5, 10))
    levels = draw(st.integers(6, 9))
    merge = draw(st.booleans())
    lines = list(BASE)
    lines.append("x0: &x0 {k: v}" if merge else "x0: &x0 [lol, lol]")
    for n in range(1, levels + 1):
        refs = ", ".join([f"*x{n - 1}"] * width)
        lines.append(f"x{n}: &x{n} " + (f"{{<<: [{refs}]}}" if merge else f"[{refs}]"))
    return text_of(lines).encode()


@st.composite
def self_reference(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(0, 5))
    inner = "*a"
    for _ in range(depth):
        inner = draw(st.sampled_from(["[{}]", "{{k: {}}}"])).format(inner)
    shape = draw(st.sampled_from(["&a [{}]", "&a {{k: {}}}"]))
    return text_of([*BASE, "x: " + shape.format(inner)]).encode()


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(41, 3000))
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
    return text_of([*BASE, "x: " + opener * depth + "1" + closer * depth]).encode()


@st.composite
def duplicate_key(draw: st.DrawFn) -> bytes:
    index = draw(st.sampled_from(VALUE_LINES))
    line = BASE[index]
    return text_of([*BASE[: index + 1], line, *BASE[index + 1 :]]).encode()


@st.composite
def bad_encoding(draw: st.DrawFn) -> bytes:
    text = text_of(list(BASE))
    if draw(st.booleans()):
        return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32"])))
    data = text.encode()
    at = draw(st.integers(0, len(data)))
    bad = draw(st.sampled_from([b"\xff", b"\xfe", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\xe9"]))
    return data[:at] + bad + data[at:]


@st.composite
def oversized(draw: st.DrawFn) -> bytes:
    size = draw(st.integers(64 * 1024, 300 * 1024))
    return text_of([*BASE, "x: " + "a" * size]).encode()


@st.composite
def misplaced_key(draw: st.DrawFn) -> bytes:
    key = draw(st.sampled_from(["name", "app", "nmae", "hostz", "strat"]))
    lines = list(BASE)
    lines.insert(12, f"    {key}: {draw(names)}")
    return text_of(lines).encode()


@st.composite
def same_host_twice(draw: st.DrawFn) -> bytes:
    host = draw(names)
    second = draw(st.sampled_from([f"u@{host}:22", f"u@{host.upper()}", f"u@{host}"]))
    lines = replace_value(BASE, 11, f"[u@{host}, {quoted(second)}]")
    return text_of(lines).encode()


@st.composite
def unknown_requirement(draw: st.DrawFn) -> bytes:
    name = draw(names.filter(lambda n: n not in ("staging",)))
    lines = [*BASE[:-1], f"    promotion: {{requires: {name}}}"]
    return text_of(lines).encode()


random_text = st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass"))

hostile_configs = st.one_of(
    hostile_value_in_field(),
    control_character(),
    bad_tag(),
    bad_date(),
    huge_number(),
    alias_bomb(),
    self_reference(),
    deep_nesting(),
    duplicate_key(),
    bad_encoding(),
    oversized(),
    misplaced_key(),
    same_host_twice(),
    unknown_requirement(),
    random_text,
    st.binary(max_size=200),
)


class CaseTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the case (SIGALRM) if it runs longer than `seconds`."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"config check took over {seconds} s")

    previous: Callable[[int, FrameType | None], object] | int | None
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_valid_base_config_passes_the_check() -> None:
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "shipyard.yml"
        path.write_text(text_of(BASE))
        result = CliRunner().invoke(SHIPYARD, ["config", "check", "--config", str(path)])
    assert result.exit_code == 0, result.stderr


@pytest.mark.timeout(120, method="thread")  # the per-case bound below uses SIGALRM
@settings(
    max_examples=EXAMPLES,
    deadline=None,  # the bound is the SIGALRM timeout, which interrupts a hang
    derandomize=True,  # the same 600 files on every run and in CI
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(content=hostile_configs)
def test_every_hostile_config_ends_in_exit_2_with_a_located_message(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "shipyard.yml"
        path.write_bytes(content)
        with time_limit(CASE_TIMEOUT):
            result = CliRunner().invoke(SHIPYARD, ["config", "check", "--config", str(path)])
        output = result.output + result.stderr
        assert not isinstance(result.exception, CaseTimeout), content[:300]
        assert "Traceback" not in output
        assert result.exit_code == 2, (content[:300], output[-2000:], result.exception)
        # the line, except for a file too large to read at all
        where = rf"error: {re.escape(str(path))}:" + ("" if b"x: aaaa" in content else r"\d+:")
        assert re.search(where, result.stderr), result.stderr
