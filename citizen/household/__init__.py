"""The household's own devices: enrolling and revoking them, and their shared friend list."""
