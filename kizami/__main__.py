from kizami.cli import main

main()
