import pytest

from app.api.client_ip import resolve_client_ip


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "trusted", "expected"),
    [
        # No trusted proxy: the peer is the client, X-Forwarded-For is ignored.
        ("203.0.113.7", [], 0, "203.0.113.7"),
        ("203.0.113.7", ["198.51.100.1"], 0, "203.0.113.7"),
        ("2001:db8::1", [], 0, "2001:db8::1"),
        # One proxy: the right-most entry is what our proxy saw; the client's claims are left.
        ("10.0.0.2", ["198.51.100.1"], 1, "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], 1, "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], 1, "198.51.100.1"),
        # Two proxies: the second from the right.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.9"], 2, "198.51.100.1"),
        ("10.0.0.2", ["2001:DB8::0:1, 10.0.0.9"], 2, "2001:db8::1"),
        # Fewer hops than proxies, or a malformed hop: nothing is trusted.
        ("10.0.0.2", [], 1, None),
        ("10.0.0.2", ["198.51.100.1"], 2, None),
        ("10.0.0.2", ["not-an-ip"], 1, None),
        ("10.0.0.2", ["198.51.100.1:4711"], 1, None),
        ("10.0.0.2", ["6.6.6.6, "], 1, None),
        (None, [], 0, None),
    ],
)
def test_client_ip_resolution(remote_addr, forwarded_for, trusted, expected):
    assert resolve_client_ip(remote_addr, forwarded_for, trusted) == expected
