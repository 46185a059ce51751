"""Structured logging: one `key=value` line per event on stderr (logfmt)."""

from __future__ import annotations

import logging
import time


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        msg = record.getMessage().replace('"', "'")
        line = f'ts={ts}Z level={record.levelname.lower()} logger={record.name} msg="{msg}"'
        if record.exc_info:
            line += ' exc="' + self.formatException(record.exc_info).replace("\n", " | ") + '"'
        return line


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # py-libp2p logs every refused stream and dial failure loudly; keep its warnings only.
    for noisy in ("libp2p", "multiaddr", "hypercorn", "async_service"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("libp2p").setLevel(logging.CRITICAL if level != "debug" else logging.DEBUG)
