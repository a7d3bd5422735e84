"""``python -m tui_label.train ...`` is ``tui-label train ...``."""

import sys

from tui_label.cli import main

main(["train", *sys.argv[1:]])
