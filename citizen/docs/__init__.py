"""Automerge docs: codec, pure sync session, values by path, replication to friends, the service."""
