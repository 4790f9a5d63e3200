"""segmentation losses (being written)."""
