"""registration losses (being written)."""
