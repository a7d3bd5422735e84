from tui_label.cli import main

main()
