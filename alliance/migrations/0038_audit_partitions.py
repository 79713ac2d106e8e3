from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# PostgreSQL: the audit trail grows without end (every view of personal data is an entry), so
# `audit_entry` becomes a table partitioned by the local (Asia/Shanghai) year of `at`, one partition
# per year the rows already hold plus a default one; `alliance partitions ensure` (run by `alliance
# migrate` and the worker each night) adds the current and the next year, `alliance partitions detach`
# takes an old year off (alliance/core/partitions.py). A partitioned table's primary key must hold
# the partition key, so it is (id, at); the id still comes from one sequence and stays unique. The
# audit_household rows are an index of the entries, not the record (alliance/core/models.py), and a
# foreign key cannot point at a partitioned table's id alone: that constraint goes. SQLite keeps one
# table: it has no partitions.

INDEXES = (
    ("idx_audit_entry_action_996fc3", "action, at"),
    ("idx_audit_entry_actor_i_31083a", "actor_id, at"),
    ("idx_audit_entry_at_c3f19e", "at"),
    ("idx_audit_entry_househo_c6d125", "household_id, at"),
    ("idx_audit_entry_object__ec873f", "object_type, object_id"),
    ("idx_audit_entry_region__b97f66", "region_path, at"),
)


def _year_bounds(year: int) -> str:
    return f"FOR VALUES FROM ('{year}-01-01 00:00:00+08') TO ('{year + 1}-01-01 00:00:00+08')"


async def partition_audit_entry(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    _count, rows = await client.execute_query(
        "SELECT DISTINCT extract(year FROM at AT TIME ZONE 'Asia/Shanghai')::int AS year FROM audit_entry ORDER BY 1"
    )
    years = [row["year"] for row in rows]
    statements = [
        "LOCK TABLE audit_entry IN ACCESS EXCLUSIVE MODE",
        "ALTER TABLE audit_household DROP CONSTRAINT IF EXISTS audit_household_entry_id_fkey",
        "ALTER TABLE audit_entry RENAME TO audit_entry_unpartitioned",
        "ALTER TABLE audit_entry_unpartitioned DROP CONSTRAINT audit_entry_pkey",
        "ALTER TABLE audit_entry_unpartitioned DROP CONSTRAINT IF EXISTS audit_entry_actor_id_fkey",
        "CREATE TABLE audit_entry (LIKE audit_entry_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (at)",
        "ALTER TABLE audit_entry ADD CONSTRAINT audit_entry_pkey PRIMARY KEY (id, at)",
        "ALTER TABLE audit_entry ADD CONSTRAINT audit_entry_actor_id_fkey FOREIGN KEY (actor_id) "
        "REFERENCES app_user(id) ON DELETE SET NULL",
        "ALTER SEQUENCE audit_entry_id_seq OWNED BY audit_entry.id",
    ]
    for name, columns in INDEXES:
        statements += [f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX {name} ON audit_entry ({columns})"]
    for year in years:
        statements.append(f"CREATE TABLE audit_entry_y{year} PARTITION OF audit_entry {_year_bounds(year)}")
    statements += [
        "CREATE TABLE audit_entry_default PARTITION OF audit_entry DEFAULT",
        "INSERT INTO audit_entry SELECT * FROM audit_entry_unpartitioned ORDER BY id",
        "DROP TABLE audit_entry_unpartitioned",
        # The append-only row trigger is cloned onto every partition; TRUNCATE is per table.
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
        "FOR EACH ROW EXECUTE FUNCTION alliance_audit_append_only()",
        "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
        "FOR EACH STATEMENT EXECUTE FUNCTION alliance_audit_append_only()",
    ]
    for table in [f"audit_entry_y{year}" for year in years] + ["audit_entry_default"]:
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION alliance_audit_append_only()"
        )
    await client.execute_script("BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT")


async def refuse_unpartitioning(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    raise RuntimeError("the audit trail's partitions are not undone: restore a backup taken before 0038")


class Migration(migrations.Migration):
    dependencies = [("models", "0036_reminder_batches")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditArchive",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("year", fields.SmallIntField(unique=True)),
                ("table_name", fields.CharField(max_length=63)),
                ("first_id", fields.BigIntField()),
                ("last_id", fields.BigIntField()),
                ("entries", fields.BigIntField()),
                ("chained", fields.BigIntField()),
                ("last_hash", fields.CharField(max_length=64)),
                ("detached_by", fields.CharField(max_length=64, default="")),
                ("detached_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "audit_archive", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.RunPython(partition_audit_entry, refuse_unpartitioning),
    ]
