from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# The dedupe keys of keyed notifications move to a table of their own, `notification_key`, on every
# database: the writers claim a key there (INSERT … ON CONFLICT DO NOTHING RETURNING) and write the
# message only when they got it. On PostgreSQL `notification` then becomes a table partitioned by the
# local (Asia/Shanghai) year of `created_at`, like the audit trail (0038, alliance/core/partitions.py):
# one partition per year the rows already hold plus a default one, the years ahead made by
# `alliance migrate` and the worker each night, old years detachable. A partitioned table's unique
# keys must hold the partition key, so `dedupe_key` is no longer unique there (the key table is) and
# the primary key is (id, created_at); the id still comes from one sequence and stays unique. Nothing
# points at a notification by foreign key. SQLite keeps one table and its unique column.

INDEXES = (
    ("idx_notificatio_status_5b3cdf", "status, created_at"),
    ("idx_notificatio_user_id_7b776a", "user_id, channel, read_at"),
    ("idx_notificatio_user_id_f2b653", "user_id, created_at"),
    # The keyed writers read their rows' ids by key (alliance/notifications/notifications.py).
    ("idx_notificatio_dedupe_key", "dedupe_key"),
)


def _year_bounds(year: int) -> str:
    return f"FOR VALUES FROM ('{year}-01-01 00:00:00+08') TO ('{year + 1}-01-01 00:00:00+08')"


async def partition_notification(apps, schema_editor) -> None:
    client = schema_editor.client
    copy_keys = (
        "INSERT INTO notification_key (key, created_at) SELECT dedupe_key, min(created_at) "
        "FROM notification WHERE dedupe_key IS NOT NULL GROUP BY dedupe_key"
    )
    if client.capabilities.dialect != "postgres":
        await client.execute_script(copy_keys)
        return
    _count, rows = await client.execute_query(
        "SELECT DISTINCT extract(year FROM created_at AT TIME ZONE 'Asia/Shanghai')::int AS year "
        "FROM notification ORDER BY 1"
    )
    years = [row["year"] for row in rows]
    statements = [
        "LOCK TABLE notification IN ACCESS EXCLUSIVE MODE",
        copy_keys,
        "ALTER TABLE notification RENAME TO notification_unpartitioned",
        "ALTER TABLE notification_unpartitioned DROP CONSTRAINT notification_pkey",
        "ALTER TABLE notification_unpartitioned DROP CONSTRAINT notification_dedupe_key_key",
    ]
    for fkey in ("household_id", "user_id", "visit_id"):
        statements.append(f"ALTER TABLE notification_unpartitioned DROP CONSTRAINT notification_{fkey}_fkey")
    statements += [
        "CREATE TABLE notification (LIKE notification_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (created_at)",
        "ALTER TABLE notification ADD CONSTRAINT notification_pkey PRIMARY KEY (id, created_at)",
        "ALTER TABLE notification ADD CONSTRAINT notification_household_id_fkey FOREIGN KEY (household_id) "
        "REFERENCES household(id) ON DELETE CASCADE",
        "ALTER TABLE notification ADD CONSTRAINT notification_user_id_fkey FOREIGN KEY (user_id) "
        "REFERENCES app_user(id) ON DELETE CASCADE",
        "ALTER TABLE notification ADD CONSTRAINT notification_visit_id_fkey FOREIGN KEY (visit_id) "
        "REFERENCES visit(id) ON DELETE SET NULL",
        "ALTER SEQUENCE notification_id_seq OWNED BY notification.id",
    ]
    for name, columns in INDEXES:
        statements += [f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX {name} ON notification ({columns})"]
    for year in years:
        statements.append(f"CREATE TABLE notification_y{year} PARTITION OF notification {_year_bounds(year)}")
    statements += [
        "CREATE TABLE notification_default PARTITION OF notification DEFAULT",
        "INSERT INTO notification SELECT * FROM notification_unpartitioned ORDER BY id",
        "DROP TABLE notification_unpartitioned",
    ]
    await client.execute_script("BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT")


async def refuse_unpartitioning(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    raise RuntimeError("the notifications' partitions are not undone: restore a backup taken before 0042")


class Migration(migrations.Migration):
    dependencies = [("models", "0040_active_request_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="NotificationKey",
            fields=[
                ("key", fields.CharField(max_length=128, primary_key=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True, db_index=True)),
            ],
            options={"table": "notification_key", "app": "models", "pk_attr": "key"},
            bases=["Model"],
        ),
        ops.RunPython(partition_notification, refuse_unpartitioning),
    ]
