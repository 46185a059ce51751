"""The sealed household backup at friends: what a household keeps there and how it comes back."""
