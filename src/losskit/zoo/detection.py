"""detection losses (being written)."""
