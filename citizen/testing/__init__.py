"""Test tools: an in-process grid of embedded nodes, hypothesis strategies, in-memory fakes.

- `grid`: `open_grid(n, tmp_path)` runs n paired embedded nodes in one trio loop.
- `datadir`: data dirs the way `citizen init` (`--join`, `--recover`) makes them.
- `strategies`: hypothesis strategies the unit tests share (imports hypothesis).
- `fakes`: in-memory streams shaped like the ones features get from the network.
"""
