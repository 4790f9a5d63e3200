"""metric_learning losses (being written)."""
