"""python -m gothreads: the main job.  See gothreads/demo.py."""
import sys

from gothreads.demo import main

sys.exit(main())
