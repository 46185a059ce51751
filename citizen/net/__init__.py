"""The one adapter over py-libp2p: host, friend gate, streams, frames, connection facts."""
