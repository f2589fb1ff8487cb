from medtui.cli import main

main()
