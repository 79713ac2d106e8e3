"""The checked-in migrations describe exactly the models: a model change without a migration fails."""

from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from alliance.db import tortoise_config


async def test_models_and_checked_in_migrations_agree(servers):
    apps_config = tortoise_config(servers.database_url)["apps"]
    pending = await MigrationAutodetector(Tortoise.apps, apps_config).changes()
    described = [str(operation) for writer in pending for operation in writer.operations]
    assert not pending, f"models changed without a migration (run makemigrations): {described}"
