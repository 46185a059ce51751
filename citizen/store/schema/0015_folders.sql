-- folders (citizen/store/folders.py): the directories the household protects, the scan
-- cache that keeps an unchanged file from being read again, every version of every path
-- (a deletion is a version too), and the objects that hold each content once
CREATE TABLE folders (
    name TEXT PRIMARY KEY,
    root BLOB NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    added_at INTEGER NOT NULL,
    last_scan INTEGER,
    marker TEXT NOT NULL
) STRICT;
CREATE TABLE folder_scan_cache (
    folder TEXT NOT NULL REFERENCES folders (name) ON DELETE CASCADE,
    path BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    PRIMARY KEY (folder, path)
) STRICT;
CREATE TABLE folder_versions (
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL REFERENCES folders (name) ON DELETE CASCADE,
    path BLOB NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    content_hash BLOB,
    target BLOB,
    deleted INTEGER NOT NULL,
    device TEXT NOT NULL,
    at_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX folder_versions_by_path ON folder_versions (folder, path, id);
CREATE TABLE folder_contents (
    content_hash BLOB PRIMARY KEY,
    object_id TEXT NOT NULL,
    size INTEGER NOT NULL
) STRICT;
CREATE TABLE folder_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
) STRICT
