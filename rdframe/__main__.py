from rdframe.cli import main

main()
