"""The libp2p rendezvous spec: codec, registry, service."""
