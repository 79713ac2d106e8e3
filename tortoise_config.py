"""For the `tortoise` CLI (makemigrations): `tortoise -c tortoise_config.TORTOISE_ORM makemigrations`."""

import os

from alliance.core.db import tortoise_config

TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://data/makemigrations.sqlite3"))
