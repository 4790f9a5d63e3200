"""Integrations with training frameworks, each behind its extra: :mod:`losskit.integrations.lightning`
(``pip install losskit[lightning]``) and :mod:`losskit.integrations.hydra` (``losskit[hydra]``). Importing
``losskit`` imports neither."""
