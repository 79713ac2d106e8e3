from tortoise import migrations
from tortoise.migrations import operations as ops

# The requests still waiting (open, claimed, scheduled, in service) are a few tens of thousands among
# millions of completed ones. The unserved lists walk them by id (the export's keyset pages) or by age
# (the page): without an index of their own, each export page walked the primary key over the
# completed rows in between — 10 s a page, 258 s for a city's 51,000 rows at 10 million visits
# (bench/bench_cockpit.py, docs/scale.md). Two partial indexes hold only the waiting requests; both
# databases take partial indexes, and the queries' `status IN (...)` implies their condition.

STATUSES = ("claimed", "in_service", "open", "scheduled")
WAITING = "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")"
# PostgreSQL prints `status IN (...)` back in a form it parses differently when the structure script
# is loaded (tests/test_structure.py); this one reads back the same.
WAITING_POSTGRES = '"status"::text = ANY (ARRAY[' + ", ".join(f"'{status}'::text" for status in STATUSES) + "])"
INDEXES = (("service_request_waiting_id", '"id"'), ("service_request_waiting_age", '"created_at", "id"'))


async def create_indexes(apps, schema_editor) -> None:
    client = schema_editor.client
    condition = WAITING_POSTGRES if client.capabilities.dialect == "postgres" else WAITING
    for name, columns in INDEXES:
        await client.execute_script(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "service_request" ({columns}) WHERE {condition}'
        )


async def drop_indexes(apps, schema_editor) -> None:
    for name, _columns in INDEXES:
        await schema_editor.client.execute_script(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("models", "0038_audit_partitions")]

    initial = False

    operations = [ops.RunPython(create_indexes, drop_indexes)]
