"""Fine-tuning, in a process of its own: ``python -m tui_label.trainer`` or ``tui-label train``.

Every module here imports torch when it is imported, except ``stopper`` (installed before
torch's slow import, so an early stop is a clean cancel) and ``oof`` (numpy; scikit-learn
only when it fits). torchvision is imported only when a torchvision model is built
(``models``). ``runs.options`` and ``runs.events`` hold the command line and the events
without torch, so the labeler can start a run and read it without loading torch.

The modules, top to bottom (each imports only those below it): ``run`` (``train``: one run
from start to end) > ``launch`` (several processes, torchrun), ``loop`` (the epochs),
``folds``, ``shares`` > ``predict`` > ``fit`` (``Fit``, ``evaluate``), ``checkpoint``,
``plan``, ``oof`` > ``context`` (``RunContext``), ``device``, ``data``, ``models``,
``distributed``, ``stopper``.
"""
