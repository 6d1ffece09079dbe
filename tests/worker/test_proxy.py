"""Proxy choice: HTTP(S)_PROXY, the three NO_PROXY forms, ports, lowercase precedence.

The expected behaviour is undici's `EnvHttpProxyAgent`, which the official server uses.
"""

from __future__ import annotations

import pytest

from xo_mcp.outbound import ProxySettings

PROXY = "http://proxy.corp.example:3128"


def settings(no_proxy: str, **extra: str) -> ProxySettings:
    return ProxySettings.from_env({"HTTP_PROXY": PROXY, "NO_PROXY": no_proxy, **extra})


def test_no_proxy_variables_means_direct() -> None:
    assert ProxySettings.from_env({}).proxy_for("https://xo.example.com") is None


def test_scheme_picks_the_proxy() -> None:
    proxy = ProxySettings.from_env(
        {"HTTP_PROXY": "http://plain:1", "HTTPS_PROXY": "http://secure:2"}
    )
    assert proxy.proxy_for("http://xo.example.com") == "http://plain:1"
    assert proxy.proxy_for("https://xo.example.com") == "http://secure:2"


def test_https_falls_back_to_http_proxy_like_undici() -> None:
    proxy = ProxySettings.from_env({"HTTP_PROXY": PROXY})
    assert proxy.proxy_for("https://xo.example.com") == PROXY


def test_https_proxy_alone_leaves_plain_http_direct() -> None:
    proxy = ProxySettings.from_env({"HTTPS_PROXY": PROXY})
    assert proxy.proxy_for("http://xo.example.com") is None
    assert proxy.proxy_for("https://xo.example.com") == PROXY


@pytest.mark.parametrize(
    ("host", "bypassed"),
    [
        ("xoa.internal.example.com", True),
        ("XOA.Internal.Example.com", True),
        ("other.internal.example.com", False),
        ("internal.example.com", False),
    ],
)
def test_exact_host(host: str, bypassed: bool) -> None:
    proxy = settings("xoa.internal.example.com")
    assert (proxy.proxy_for(f"http://{host}/") is None) is bypassed


@pytest.mark.parametrize("entry", [".example.com", "*.example.com"])
@pytest.mark.parametrize(
    ("host", "bypassed"),
    [
        ("xo.example.com", True),
        ("a.b.example.com", True),
        ("example.com", False),  # subdomains only: list the bare domain too if needed
        ("badexample.com", False),
        ("example.com.evil.net", False),
    ],
)
def test_suffix_forms_match_subdomains_only(entry: str, host: str, bypassed: bool) -> None:
    proxy = settings(entry)
    assert (proxy.proxy_for(f"http://{host}/") is None) is bypassed


def test_star_bypasses_everything() -> None:
    proxy = settings("*")
    assert proxy.proxy_for("http://anything.example.com") is None
    assert proxy.proxy_for("https://10.1.2.3:8443") is None


@pytest.mark.parametrize(
    ("url", "bypassed"),
    [
        ("http://xo.example.com:8080/", True),
        ("http://xo.example.com:9090/", False),
        ("http://xo.example.com/", False),  # port 80
    ],
)
def test_entry_with_a_port_matches_that_port_only(url: str, bypassed: bool) -> None:
    assert (settings("xo.example.com:8080").proxy_for(url) is None) is bypassed


def test_default_ports_are_compared() -> None:
    assert settings("xo.example.com:443").proxy_for("https://xo.example.com/") is None
    assert settings("xo.example.com:80").proxy_for("http://xo.example.com/") is None
    assert settings("xo.example.com:443").proxy_for("http://xo.example.com/") == PROXY


def test_entries_split_on_commas_and_blanks() -> None:
    proxy = settings(" a.example.com, b.example.com  c.example.com\t.d.example.com ,")
    assert proxy.no_proxy == ("a.example.com", "b.example.com", "c.example.com", ".d.example.com")
    for host in ("a.example.com", "b.example.com", "c.example.com", "x.d.example.com"):
        assert proxy.proxy_for(f"http://{host}") is None
    assert proxy.proxy_for("http://e.example.com") == PROXY


def test_ip_addresses_and_ipv6() -> None:
    proxy = settings("127.0.0.1,[::1]:8080")
    assert proxy.proxy_for("http://127.0.0.1:9000/") is None
    assert proxy.proxy_for("http://[::1]:8080/") is None
    assert proxy.proxy_for("http://[::1]:9000/") == PROXY
    assert proxy.proxy_for("http://127.0.0.2/") == PROXY  # no CIDR, no ranges


def test_lowercase_wins_over_uppercase() -> None:
    proxy = ProxySettings.from_env(
        {
            "http_proxy": "http://lower:1",
            "HTTP_PROXY": "http://upper:2",
            "https_proxy": "http://lower-s:3",
            "HTTPS_PROXY": "http://upper-s:4",
            "no_proxy": "lower.example.com",
            "NO_PROXY": "upper.example.com",
        }
    )
    assert proxy.http == "http://lower:1"
    assert proxy.https == "http://lower-s:3"
    assert proxy.no_proxy == ("lower.example.com",)


def test_a_set_but_empty_lowercase_variable_wins() -> None:
    # undici reads `env.http_proxy ?? env.HTTP_PROXY`: an empty string is not undefined.
    proxy = ProxySettings.from_env({"http_proxy": "", "HTTP_PROXY": PROXY})
    assert proxy.proxy_for("http://xo.example.com") is None


def test_uppercase_alone_works() -> None:
    proxy = ProxySettings.from_env({"HTTPS_PROXY": PROXY, "NO_PROXY": "xo.example.com"})
    assert proxy.proxy_for("https://xo.example.com") is None
    assert proxy.proxy_for("https://other.example.com") == PROXY


def test_credentials_in_the_proxy_url_are_kept() -> None:
    proxy = ProxySettings.from_env({"HTTPS_PROXY": "http://user:pass@proxy:3128"})
    assert proxy.proxy_for("https://xo.example.com") == "http://user:pass@proxy:3128"
