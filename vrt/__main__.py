from vrt.cli import main

main()
