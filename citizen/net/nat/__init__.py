"""Reachability behind home NATs: dialback, relays, hole punching, UPnP and NAT-PMP."""
