from tortoise import migrations
from tortoise.migrations import operations as ops

# request_match loses its index on offering_id alone: the one reader (an offering's matches, when
# it is edited) goes through the partner's board index on (partner_id, ...), and a full re-match of
# a province rebuilds every index of twenty million rows each night (this one about 6 s of 64 s).


class Migration(migrations.Migration):
    dependencies = [("models", "0044_match_reasons_as_json")]

    initial = False

    operations = [
        ops.RemoveIndex(model_name="Match", name=None, fields=["offering_id"]),
    ]
