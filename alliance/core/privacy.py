"""What a screen may show of a person."""

from __future__ import annotations


def mask_id_number(id_number: str | None) -> str:
    """Never the whole ID number: region prefix and last two characters only."""
    if not id_number:
        return ""
    return id_number[:4] + "*" * (len(id_number) - 6) + id_number[-2:]


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"
