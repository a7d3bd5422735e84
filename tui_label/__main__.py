from tui_label.cli.main import main

main()
