"""`python -m bioplaus_analysis …` runs the `bioplaus` command (so `torchrun -m bioplaus_analysis` works)."""

from .commands.cli import main

raise SystemExit(main())
