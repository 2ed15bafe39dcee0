"""Pod addresses on loopback: one per live pod, never the node's, reused only once freed."""

from __future__ import annotations

import pytest

from workspace_spawner_testing.loopback import LoopbackAddresses


def test_a_pod_keeps_its_address_and_no_two_live_pods_share_one():
    pool = LoopbackAddresses()
    first = [pool.allocate(f"uid-{i}") for i in range(600)]
    assert len(set(first)) == 600
    assert "127.0.0.1" not in first
    assert [pool.allocate(f"uid-{i}") for i in range(600)] == first


def test_a_freed_address_goes_round_robin_not_at_once_to_the_next_pod():
    pool = LoopbackAddresses("127.9.9.0/29")  # .1 .. .6
    got = [pool.allocate(u) for u in "abc"]
    pool.release("a")
    assert pool.allocate("d") == "127.9.9.4"
    assert pool.allocate("e") not in got[1:]


@pytest.mark.parametrize(
    "network,usable,message",
    [
        ("127.9.9.0/30", None, "no free pod address in 127.9.9.0/30"),
        ("127.9.9.0/24", lambda ip: False, "no free pod address in 127.9.9.0/24"),
    ],
)
def test_a_full_network_says_so(network, usable, message):
    pool = LoopbackAddresses(network, usable=usable)
    with pytest.raises(RuntimeError, match=message):
        for i in range(300):
            pool.allocate(str(i))


def test_only_loopback_networks():
    with pytest.raises(ValueError, match="must be loopback addresses"):
        LoopbackAddresses("10.0.0.0/8")
