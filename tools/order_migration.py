"""Reorder the CreateModel operations of a generated migration so referenced tables come first.

tortoise 1.1's makemigrations writes them in model-discovery order, which fails on PostgreSQL when a
table references one created later. Usage: python tools/order_migration.py alliance/migrations/000N_x.py
"""

import re
import sys
from pathlib import Path

REFERENCE = re.compile(r"(?:ForeignKeyField|OneToOneField)\('models\.(\w+)'")


def dependency_order(operations: dict[str, str]) -> list[str]:
    references = {name: set(REFERENCE.findall(block)) - {name} for name, block in operations.items()}
    ordered: list[str] = []

    def visit(name: str, stack: tuple[str, ...] = ()) -> None:
        if name in ordered or name in stack:
            return
        for referenced in sorted(references[name]):
            if referenced in operations:
                visit(referenced, (*stack, name))
        ordered.append(name)

    for name in operations:
        visit(name)
    return ordered


def main(path: Path) -> None:
    source = path.read_text()
    head, rest = source.split("    operations = [\n", 1)
    body, tail = rest.rsplit("    ]\n", 1)
    blocks = [block for block in re.split(r"(?=^        ops\.)", body, flags=re.M) if block.strip()]
    operations = {}
    others = []  # AddField and friends keep their order, after the tables they may reference
    for block in blocks:
        created = re.match(r"\s*ops\.CreateModel\(\s*name='(\w+)'", block)
        if created:
            operations[created.group(1)] = block
        else:
            others.append(block)
    order = dependency_order(operations)
    ordered = [operations[name] for name in order] + others
    path.write_text(head + "    operations = [\n" + "".join(ordered) + "    ]\n" + tail)
    print(" → ".join(order))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
