"""Hostile shipyard.yml files and secrets: each ends in exit 2 with a located message.

Every case here was reproduced against an earlier version (issue 8, items 12 and 13):
it printed a traceback, hung, or was accepted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile, resolve_secrets

pytestmark = pytest.mark.timeout(20)  # a hang fails the test instead of stalling the run

GOOD = "app: a\nstart: run\nenvironments:\n  e:\n    hosts: [local]\n"


def check(tmp_path: Path, content: str | bytes) -> tuple[int, str]:
    """`shipyard config check` on a file with this content: exit code and stderr."""
    path = tmp_path / "shipyard.yml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stderr


def error_of(tmp_path: Path, text: str, env: str = "e") -> ConfigError:
    path = tmp_path / "shipyard.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        ConfigFile.load(path).environment(env)
    return caught.value


def located(tmp_path: Path, stderr: str, line: int) -> bool:
    return f"{tmp_path / 'shipyard.yml'}:{line}:" in stderr


# item 12: no traceback, no hang


def test_a_file_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    code, err = check(tmp_path, b"app: a\nstart: caf\xe9\nenvironments: {e: {hosts: [local]}}\n")
    assert code == 2 and located(tmp_path, err, 2) and "UTF-8" in err


def test_a_utf16_file_is_refused_with_a_hint_to_save_it_as_utf8(tmp_path: Path) -> None:
    code, err = check(tmp_path, GOOD.encode("utf-16"))
    assert code == 2 and "UTF-16" in err and "UTF-8" in err


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ufeff\x00"])
def test_nul_and_control_characters_are_refused_at_their_line(tmp_path: Path, char: str) -> None:
    code, err = check(tmp_path, f"app: a\nstart: ru{char}n\nenvironments: {{e: {{}}}}\n")
    assert code == 2 and located(tmp_path, err, 2) and "control character" in err


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2020-13-45", "date"),
        ("!!int abc", "!!int"),
        ("!!bool maybe", "!!bool"),
        ("!!float abc", "!!float"),
        ("!!timestamp soon", "!!timestamp"),
        ("1" * 5000, "digits"),
    ],
)
def test_values_yaml_cannot_build_are_refused_at_their_line(
    tmp_path: Path, value: str, words: str
) -> None:
    code, err = check(tmp_path, f"start: run\napp: {value}\nenvironments: {{e: {{}}}}\n")
    assert code == 2 and located(tmp_path, err, 2) and words in err


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    code, err = check(tmp_path, GOOD + "x: &a [*a]\n")
    assert code == 2 and located(tmp_path, err, 6) and "alias" in err


def test_a_billion_laughs_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        levels.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    code, err = check(tmp_path, GOOD + "\n".join(levels) + "\n")
    assert code == 2 and "alias" in err and "expand" in err


def test_merge_keys_that_multiply_are_refused(tmp_path: Path) -> None:
    levels = ["m0: &m0 {x: 1}"]
    for n in range(1, 9):
        levels.append(f"m{n}: &m{n} {{<<: [" + ", ".join([f"*m{n - 1}"] * 10) + "]}")
    code, err = check(tmp_path, GOOD + "\n".join(levels) + "\n")
    assert code == 2 and "expand" in err


def test_a_modest_alias_is_still_allowed(tmp_path: Path) -> None:
    text = "app: a\nstart: run\nenvironments:\n  e: {hosts: &h [u@h]}\n  f: {hosts: *h}\n"
    (tmp_path / "shipyard.yml").write_text(text)
    assert ConfigFile.load(tmp_path / "shipyard.yml").environment("f").hosts[0].address == "u@h"


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    code, err = check(tmp_path, GOOD + "x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert code == 2 and "deep" in err


def test_a_20_mb_line_is_refused_by_the_size_limit(tmp_path: Path) -> None:
    code, err = check(tmp_path, GOOD + "x: " + "a" * 20_000_000 + "\n")
    assert code == 2 and "larger than" in err


def test_a_hundred_thousand_hosts_are_refused(tmp_path: Path) -> None:
    hosts = ", ".join(f"u@h{n}" for n in range(100_000))
    code, err = check(tmp_path, f"app: a\nstart: run\nenvironments:\n  e:\n    hosts: [{hosts}]\n")
    assert code == 2 and ("larger than" in err or "hosts" in err)


def test_a_thousand_and_one_hosts_are_refused_with_the_limit(tmp_path: Path) -> None:
    hosts = "\n".join(f"      - u@h{n}" for n in range(1001))
    code, err = check(tmp_path, f"app: a\nstart: run\nenvironments:\n  e:\n    hosts:\n{hosts}\n")
    assert code == 2 and located(tmp_path, err, 5) and "1000" in err


@pytest.mark.parametrize("special", ["/dev/zero", "dir", "fifo"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path: Path, special: str) -> None:
    path = Path(special) if special.startswith("/") else tmp_path / special
    if special == "dir":
        path.mkdir()
    elif special == "fifo":
        os.mkfifo(path)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2 and "not a regular file" in result.stderr


def secret_error(tmp_path: Path, source: str) -> ConfigError:
    path = tmp_path / "shipyard.yml"
    path.write_text(GOOD + f"secrets:\n  KEY: {{from_file: {source}}}\n")
    env = ConfigFile.load(path).environment("e")
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(env, path)
    assert caught.value.key_path.startswith("environments.e.secrets.KEY")
    return caught.value


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "dir"])
def test_a_secret_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, special: str) -> None:
    source = special
    if special == "fifo":
        os.mkfifo(tmp_path / "fifo")
    elif special == "dir":
        (tmp_path / "dir").mkdir()
    assert "not a regular file" in secret_error(tmp_path, source).message


def test_a_binary_secret_file_is_refused_not_a_unicode_error(tmp_path: Path) -> None:
    (tmp_path / "key.bin").write_bytes(b"\xff\xfe\x00\x01")
    assert "UTF-8" in secret_error(tmp_path, "key.bin").message


def test_a_secret_with_a_nul_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_bytes(b"abc\x00def\n")
    assert "NUL" in secret_error(tmp_path, "key.txt").message


def test_an_oversized_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_bytes(b"k" * (1024 * 1024))
    assert "larger than" in secret_error(tmp_path, "key.txt").message


def test_a_binary_secret_is_reported_by_config_check_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "key.bin").write_bytes(b"\xff\xfe\x00\x01")
    code, err = check(tmp_path, GOOD + "secrets:\n  KEY: {from_file: key.bin}\n")
    assert code == 2 and "secrets.KEY" in err


# item 13: validation gaps


def test_an_environment_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    code, err = check(
        tmp_path, 'app: a\nstart: run\nenvironments:\n  "prod\\n": {hosts: [local]}\n'
    )
    assert code == 2 and "environment name" in err


def test_an_app_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    code, err = check(tmp_path, 'app: "a\\n"\nstart: run\nenvironments: {e: {hosts: [local]}}\n')
    assert code == 2 and located(tmp_path, err, 1)


@pytest.mark.parametrize("key", ["PORT\\n", "LOG\\n", "PORT "])
def test_an_env_name_with_trailing_whitespace_is_refused(tmp_path: Path, key: str) -> None:
    error = error_of(tmp_path, GOOD + f'env: {{"{key}": "1"}}\n')
    assert error.key_path == "env" and "not a valid environment variable name" in error.message


def test_a_worker_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + 'workers: {"q\\n": {command: run}}\n')
    assert error.key_path == "workers" and "worker name" in error.message


INJECTION = "127.0.0.1:81;\\n    location /leak { alias /etc/; }\\n    listen 127.0.0.1:8080"


@pytest.mark.parametrize(
    "listen",
    [
        INJECTION,
        "127.0.0.1 ssl:8080",
        "127.0.0.1:8080\\n",
        "127.0.0.1:٨٠٨٠",
        "127.0.0.1:0",
        "300.1.1.1:80",
        "[::1:80",
        "exa mple:80",
        "a;b:80",
    ],
)
def test_nginx_listen_is_validated_whole(tmp_path: Path, listen: str) -> None:
    error = error_of(tmp_path, GOOD + f'nginx: {{listen: "{listen}"}}\n')
    assert error.key_path == "nginx.listen" and error.line == 6


@pytest.mark.parametrize("listen", ["127.0.0.1:8080", "0.0.0.0:80", "[::]:80", "*:80", "web:80"])
def test_ordinary_listen_addresses_are_accepted(tmp_path: Path, listen: str) -> None:
    (tmp_path / "shipyard.yml").write_text(GOOD + f'nginx: {{listen: "{listen}"}}\n')
    assert ConfigFile.load(tmp_path / "shipyard.yml").environment("e").nginx.listen == listen


def test_a_host_listen_override_is_validated_too(tmp_path: Path) -> None:
    text = (
        "app: a\nstart: run\nenvironments:\n  e:\n    hosts:\n"
        f'      - {{address: u@h, listen: "{INJECTION}"}}\n'
    )
    error = error_of(tmp_path, text)
    assert error.key_path == "environments.e.hosts.0.listen" and error.line == 6


@pytest.mark.parametrize(
    "root", ["/srv/x\\nuser root", "/srv/%(here)s", "/srv/x;y", "/srv/a b", "/srv/x\\u0000"]
)
def test_a_root_that_would_break_supervisord_or_nginx_is_refused(tmp_path: Path, root: str) -> None:
    error = error_of(tmp_path, GOOD + f'root: "{root}"\n')
    assert error.key_path == "root" and error.line == 6


def test_a_host_root_override_is_validated_too(tmp_path: Path) -> None:
    text = (
        "app: a\nstart: run\nenvironments:\n  e:\n    hosts:\n"
        '      - {address: u@h, root: "/srv/%(ENV_X)s"}\n'
    )
    assert error_of(tmp_path, text).key_path == "environments.e.hosts.0.root"


@pytest.mark.parametrize("user", ["nobody;\\nerror_log /tmp/x", "nobody nogroup extra", "a%b", ""])
def test_a_worker_user_nginx_would_misread_is_refused(tmp_path: Path, user: str) -> None:
    error = error_of(tmp_path, GOOD + f'nginx: {{worker_user: "{user}"}}\n')
    assert error.key_path == "nginx.worker_user"


def test_a_worker_user_with_a_group_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yml").write_text(GOOD + "nginx: {worker_user: www-data www-data}\n")
    env = ConfigFile.load(tmp_path / "shipyard.yml").environment("e")
    assert env.nginx.worker_user == "www-data www-data"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("binary", "/usr/sbin/nginx%(x)s"),
        ("pid_file", "/run/nginx.pid\\nuser root"),
        ("include_dir", "/etc/nginx/sites enabled"),
        ("client_max_body_size", "\\u0661\\u0660m"),
    ],
)
def test_other_nginx_paths_are_validated_the_same_way(tmp_path: Path, key: str, value: str) -> None:
    error = error_of(tmp_path, GOOD + f'nginx: {{{key}: "{value}"}}\n')
    assert error.key_path == f"nginx.{key}"


@pytest.mark.parametrize("name", ["up\\nloads", "logs\\u0000", "a\\tb"])
def test_shared_names_with_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    error = error_of(tmp_path, GOOD + f'shared: {{dirs: ["{name}"]}}\n')
    assert error.key_path.startswith("shared.dirs") and error.line == 6


def test_an_ssh_port_in_non_ascii_digits_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, "app: a\nstart: run\nenvironments:\n  e: {hosts: ['u@h:٢٢']}\n")
    assert "not an SSH target" in error.message


def test_a_duplicate_key_is_refused_naming_both_lines(tmp_path: Path) -> None:
    code, err = check(tmp_path, "app: a\nstart: run\nstart: other\nenvironments: {e: {}}\n")
    assert code == 2 and located(tmp_path, err, 3) and "line 2" in err and "start" in err


def test_a_duplicate_key_inside_an_environment_is_refused(tmp_path: Path) -> None:
    text = GOOD + "    hosts: [u@h]\n"
    code, err = check(tmp_path, text)
    assert code == 2 and located(tmp_path, err, 6) and "line 5" in err


@pytest.mark.parametrize("key", ["name: other", "app: other"])
def test_name_or_app_at_the_top_of_an_environment_is_refused(tmp_path: Path, key: str) -> None:
    error = error_of(tmp_path, GOOD + f"    {key}\n")
    assert error.key_path == f"environments.e.{key.split(':')[0]}" and error.line == 6


def test_name_at_the_top_of_the_file_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "name: other\n")
    assert error.key_path == "name" and error.line == 6


@pytest.mark.parametrize(
    "hosts",
    ["[u@h, 'u@h:22']", "[u@h, u@H]", "['u@[::1]', 'u@[0:0::1]:22']", "[{address: u@h}, u@h]"],
)
def test_the_same_host_written_twice_is_refused(tmp_path: Path, hosts: str) -> None:
    error = error_of(tmp_path, f"app: a\nstart: run\nenvironments:\n  e: {{hosts: {hosts}}}\n")
    assert "same host" in error.message


@pytest.mark.parametrize("address", ["' local'", "'local '", "'u@h\\n'", "' u@h'"])
def test_a_host_address_with_whitespace_is_refused(tmp_path: Path, address: str) -> None:
    text = f'app: a\nstart: run\nenvironments:\n  e: {{hosts: ["{address[1:-1]}"]}}\n'
    error = error_of(tmp_path, text)
    assert error.key_path.startswith("environments.e.hosts")


def test_promotion_requires_must_name_an_environment(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "    promotion: {requires: nope}\n")
    assert error.key_path == "environments.e.promotion.requires" and error.line == 6
    assert "nope" in error.message and "e" in error.message


def test_promotion_requires_cannot_name_its_own_environment(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "    promotion: {requires: e}\n")
    assert error.key_path == "environments.e.promotion.requires"


def test_promotion_requires_an_existing_environment_is_accepted(tmp_path: Path) -> None:
    text = GOOD + "  prod:\n    hosts: [u@h]\n    promotion: {requires: e}\n"
    (tmp_path / "shipyard.yml").write_text(text)
    assert ConfigFile.load(tmp_path / "shipyard.yml").environment("prod").promotion.requires == "e"


def test_a_config_errors_hint_is_printed_once(tmp_path: Path) -> None:
    code, err = check(tmp_path, b"app: a\nstart: caf\xe9\nenvironments: {e: {hosts: [local]}}\n")
    assert code == 2 and err.count("hint: save the file as UTF-8") == 1
