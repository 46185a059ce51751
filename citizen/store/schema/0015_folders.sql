-- folders (citizen/store/folders.py): the directories this device protects, the scan
-- cache that keeps an unchanged file from being read again, and the object that holds
-- each content once; the versions live in the folder index doc (citizen/folders/index.py)
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
CREATE TABLE folder_contents (
    content_hash BLOB PRIMARY KEY,
    object_id TEXT NOT NULL,
    size INTEGER NOT NULL
) STRICT
