"""gothreads: a thread pool whose idle threads exit and whose stacks are reclaimed."""
from gothreads import runtime

__all__ = ["runtime"]
__version__ = "0.1.0"
