"""Numbers from files: CSV, JSON Lines, many points at once."""
