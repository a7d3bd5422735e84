"""tui-label: keyboard-driven image-classification labeling in the terminal."""

__version__ = "0.1.0"
