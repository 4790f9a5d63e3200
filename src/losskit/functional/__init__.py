"""The pure functional core of losskit (the ``torch.nn.functional`` of the zoo).

One module per family; the ``nn.Module`` classes in :mod:`losskit.zoo` hold options and call these.
"""

from ._checks import label_checks, set_label_checks

__all__ = ["label_checks", "set_label_checks"]
