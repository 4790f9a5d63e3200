"""A third-party losskit plugin used by losskit's tests. Importing the package itself is free of torch."""
