from kizami.cli.app import main

main()
