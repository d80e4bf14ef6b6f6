from hkubectl.cli import main

main()
