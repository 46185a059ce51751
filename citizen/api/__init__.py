"""The local API: HTTP and WebSocket on a Unix socket (and 127.0.0.1 with a token)."""
