"""Test tools: an in-process grid of embedded nodes, hypothesis strategies, in-memory fakes."""
