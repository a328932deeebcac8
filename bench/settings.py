"""The project's settings serving bench/db_variants.py (`make bench-pools`)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.db_variants"
