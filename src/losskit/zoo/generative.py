"""generative losses (being written)."""
