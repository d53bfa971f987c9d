"""``python -m albertctl`` (and ``torchrun -m albertctl``) runs the CLI."""

from albertctl.cli import main

main()
