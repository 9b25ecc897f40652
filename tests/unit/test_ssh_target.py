import pytest

from shipyard.transport.target import SshTarget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web1", SshTarget(host="web1")),
        ("deploy@web1", SshTarget(host="web1", user="deploy")),
        ("deploy@10.0.0.5:22", SshTarget(host="10.0.0.5", user="deploy", port=22)),
        ("app.example.com:2222", SshTarget(host="app.example.com", port=2222)),
        ("ci_user.1@host-2.example", SshTarget(host="host-2.example", user="ci_user.1")),
        ("root@[::1]:2222", SshTarget(host="::1", user="root", port=2222)),
        ("[fe80::1]", SshTarget(host="fe80::1")),
        ("  deploy@web1:65535  ", SshTarget(host="web1", user="deploy", port=65535)),
    ],
)
def test_parse_accepts_user_host_and_port_forms(text: str, expected: SshTarget) -> None:
    assert SshTarget.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "deploy@",
        "@web1",
        "web1:",
        "web1:ssh",
        "web1:22:22",
        "deploy@@web1",
        "deploy@web 1",
        "deploy@web1;rm",
        "ssh://deploy@web1",
        "web1:123456",
    ],
)
def test_parse_rejects_malformed_targets_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="user@host"):
        SshTarget.parse(text)


@pytest.mark.parametrize("text", ["web1:0", "web1:65536", "web1:99999"])
def test_parse_rejects_ports_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="out of range 1-65535"):
        SshTarget.parse(text)


@pytest.mark.parametrize("text", ["web1", "deploy@web1", "deploy@10.0.0.5:2222", "web1:22"])
def test_a_parsed_target_prints_as_it_was_written(text: str) -> None:
    assert str(SshTarget.parse(text)) == text


def test_an_ipv6_target_prints_with_brackets_so_the_port_stays_unambiguous() -> None:
    assert str(SshTarget.parse("root@[::1]:2222")) == "root@[::1]:2222"
