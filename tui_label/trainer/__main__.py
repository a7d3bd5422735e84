"""``python -m tui_label.trainer ...`` is ``tui-label train ...``."""

import sys

from tui_label.cli.main import main

main(["train", *sys.argv[1:]])
