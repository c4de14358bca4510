"""odma-sim: a discrete-event simulator of LLM serving on random-access-constrained memory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("odma-sim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
