-- docs: one row per Automerge doc held here, ours or a friend's (owner); the
-- doc is its snapshot followed by its change log (doc_changes, in seq order).
-- A deleted doc keeps its row (deleted = 1, empty snapshot) so a friend's
-- sync cannot bring it back by accident.
CREATE TABLE docs (
    doc_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    snapshot BLOB NOT NULL,
    log_len INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
) STRICT;
CREATE TABLE doc_changes (
    doc_id TEXT NOT NULL REFERENCES docs(doc_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    change BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) STRICT;
-- grants: the newest signed grant (or revocation) per (doc, friend household),
-- both those our household issued and those friends issued to us
CREATE TABLE grants (
    doc_id TEXT NOT NULL,
    friend TEXT NOT NULL,
    owner TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('reader', 'writer')),
    revoked INTEGER NOT NULL CHECK (revoked IN (0, 1)),
    issued INTEGER NOT NULL,
    signed BLOB NOT NULL,
    PRIMARY KEY (doc_id, friend)
) STRICT;
CREATE INDEX grants_by_friend ON grants(friend)
