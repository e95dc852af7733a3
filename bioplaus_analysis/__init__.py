"""bioplaus analysis: reads trained runs and dissects them; home of the `bioplaus` command."""

from trainers import __version__

__all__ = ["__version__"]
