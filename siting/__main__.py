"""``python -m siting``: the same command line as ``siting``."""

from siting.cli import main

main()
