"""The numbered SQLite schema files, applied in order by `citizen.store.db`."""
