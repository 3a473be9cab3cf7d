"""PixelSecurer: machine unlearning for deep age regression.

The library behind the PixelSecurer book. Chapters import it as ``import pixelsecurer_lib as psl``.
"""
__version__ = "0.1.0"

from .config import Profile, PROFILES, get_profile, cache_dir  # noqa: E402,F401
from .session import ChapterContext, interactive, setup_chapter  # noqa: E402,F401
from . import anchors, cache, data, experiment, metrics, models, plots, training, unlearning  # noqa: E402,F401
from . import anamnesis, audit, stats, stored, sweep  # noqa: E402,F401
