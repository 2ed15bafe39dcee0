"""Pod addresses on loopback, one per live pod, for the test beds' simulated nodes.

Linux routes all of 127.0.0.0/8 to ``lo`` (RFC 1122 3.2.1.3), so every address of it
can be bound and reached on this machine: a pod's server (the pod runner's processes,
the stand-in single-user servers) listens on its own pod IP, and a client connects to
it, as on a cluster network. A pod keeps its address until it is gone, and no two live
pods share one (the kubelet's CNI plugin gives each pod sandbox its own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

HOST_IP = "127.0.0.1"  # the node's own address (status.hostIP)


class LoopbackAddresses:
    """Allocates addresses of a loopback network to pods by uid, round robin.

    Round robin, not lowest free: an address released by a deleted pod is not handed
    to the next pod at once, so a client still talking to the old pod does not reach
    the new one. ``usable(ip)`` may refuse an address (one a process outside the test
    bed listens on).
    """

    def __init__(
        self,
        network: str = "127.0.0.0/8",
        *,
        usable: Callable[[str], bool] | None = None,
    ) -> None:
        net = ipaddress.ip_network(network)
        if not net.is_loopback:
            raise ValueError(f"pod addresses must be loopback addresses (127.x.y.z), not {network}")
        self.network = net
        self._first = int(net.network_address) + 1
        self._size = max(net.num_addresses - 2, 1)  # no network, no broadcast address
        self._next = 0
        self._usable = usable or (lambda ip: True)
        self._by_uid: dict[str, str] = {}
        self._used: set[str] = set()

    def allocate(self, uid: str) -> str:
        """The pod's address: the one it has, else the next free one."""
        if uid in self._by_uid:
            return self._by_uid[uid]
        for _ in range(self._size):
            candidate = str(ipaddress.ip_address(self._first + self._next))
            self._next = (self._next + 1) % self._size
            if candidate != HOST_IP and candidate not in self._used and self._usable(candidate):
                self._by_uid[uid] = candidate
                self._used.add(candidate)
                return candidate
        raise RuntimeError(f"no free pod address in {self.network}")

    def get(self, uid: str) -> str | None:
        return self._by_uid.get(uid)

    def release(self, uid: str) -> None:
        """The pod is gone: its address may go to another pod."""
        ip = self._by_uid.pop(uid, None)
        if ip is not None:
            self._used.discard(ip)

    def clear(self) -> None:
        self._by_uid.clear()
        self._used.clear()

    def __len__(self) -> int:
        return len(self._by_uid)
