from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


async def drop_match_foreign_keys(apps, schema_editor) -> None:
    # The field changes above only tell tortoise. PostgreSQL keeps the constraints until dropped: their
    # per-row checks were a third of the full re-match's write. SQLite's field changes rebuilt the
    # table and lost its unique pair and offering index on the way: rebuild it once more, as the
    # model says, without the foreign keys.
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            'ALTER TABLE "request_match" '
            'DROP CONSTRAINT IF EXISTS "request_match_request_id_fkey", '
            'DROP CONSTRAINT IF EXISTS "request_match_offering_id_fkey", '
            'DROP CONSTRAINT IF EXISTS "request_match_partner_id_fkey"'
        )
        return
    if client.capabilities.dialect != "sqlite":
        return
    columns = '"id", "request_id", "offering_id", "partner_id", "score", "distance_km", "reasons", "computed_at", "partner_best"'
    for statement in (
        'CREATE TABLE "request_match_rebuilt" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
        '"request_id" INT NOT NULL, "offering_id" INT NOT NULL, "partner_id" INT NOT NULL, '
        '"score" REAL NOT NULL, "distance_km" REAL, "reasons" JSON NOT NULL, "computed_at" TIMESTAMP NOT NULL, '
        '"partner_best" INT NOT NULL DEFAULT 1, '
        'CONSTRAINT "uid_request_mat_request_3fc512" UNIQUE ("request_id", "offering_id"))',
        f'INSERT INTO "request_match_rebuilt" ({columns}) SELECT {columns} FROM "request_match"',
        'DROP TABLE "request_match"',
        'ALTER TABLE "request_match_rebuilt" RENAME TO "request_match"',
        'CREATE INDEX "idx_request_mat_offerin_bd30ff" ON "request_match" ("offering_id")',
        'CREATE INDEX "idx_request_mat_partner_29b6be" ON "request_match" '
        '("partner_id", "partner_best", "score", "request_id")',
    ):
        await client.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [("models", "0009_lookup_indexes")]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name="Match",
            name=None,
            fields=["partner_id", "score"],
        ),
        ops.AlterField(
            model_name="Match",
            name="offering",
            field=fields.ForeignKeyField(
                "models.Offering",
                source_field="offering_id",
                db_constraint=False,
                to_field="id",
                related_name="matches",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AlterField(
            model_name="Match",
            name="partner",
            field=fields.ForeignKeyField(
                "models.Partner",
                source_field="partner_id",
                db_constraint=False,
                to_field="id",
                related_name="matches",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AlterField(
            model_name="Match",
            name="request",
            field=fields.ForeignKeyField(
                "models.ServiceRequest",
                source_field="request_id",
                db_constraint=False,
                to_field="id",
                related_name="matches",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="Match",
            name="partner_best",
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddIndex(
            model_name="Match",
            index=Index(fields=["partner_id", "partner_best", "score", "request_id"]),
        ),
        # Rows stored before this migration: only the partner's best offering of each request keeps
        # partner_best (the next re-match writes it anyway).
        ops.RunSQL(
            "UPDATE request_match SET partner_best = FALSE WHERE EXISTS (SELECT 1 FROM request_match b "
            "WHERE b.request_id = request_match.request_id AND b.partner_id = request_match.partner_id "
            "AND (b.score > request_match.score OR (b.score = request_match.score "
            "AND b.offering_id < request_match.offering_id)))",
            reverse_sql="SELECT 1",
        ),
        ops.RunPython(drop_match_foreign_keys, ops.RunPython.noop),
    ]
