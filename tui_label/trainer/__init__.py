"""Fine-tuning, in a process of its own: ``python -m tui_label.trainer`` or ``tui-label train``.

Only ``engine``, ``data`` and ``models`` import torch; ``options`` and ``events`` do not, so
the labeler can build a command line and read events without loading torch.
"""
