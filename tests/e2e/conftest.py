"""Fixtures the end-to-end tests share (the NAT ones live in tests/e2e/nat_daemons.py)."""

from tests.e2e.nat_daemons import ns_daemons, topo

__all__ = ["ns_daemons", "topo"]
