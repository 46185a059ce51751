"""SQLite (WAL, numbered STRICT schema files) and files on disk: every SQL statement lives here."""
