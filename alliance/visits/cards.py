"""The household's visit card: a printed QR code (and a short code under it) that a volunteer scans
at the door to check in, as Wencheng county records its visits.

The QR holds a signed token of the household id and the card's serial; the short code is a keyed
hash of the same pair, for phones whose camera will not read the card. Re-issuing a card bumps the
serial, so the old card (lost, or copied) stops working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

import segno
from itsdangerous import BadSignature, Signer
from tortoise.expressions import F

from alliance.core.access import Action, Principal, get_visible
from alliance.core.audit import record
from alliance.core.errors import AllianceError
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.households.models import Household

CARD_SALT = "alliance.visit-card"
TOKEN_PREFIX = "ALC1"
# Crockford's base32 without I, L, O, U: nothing to misread when typing from a printed card.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = str.maketrans(_STANDARD, _CROCKFORD)


class CardProblem(StrEnum):
    FORGED = "forged"
    OTHER_HOUSEHOLD = "other_household"
    REVOKED = "revoked"
    WRONG_CODE = "wrong_code"


class CardRefused(AllianceError):
    """The card or code does not prove the volunteer is at this household's door."""

    def __init__(self, problem: CardProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem

    @property
    def message(self) -> str:
        return {
            CardProblem.FORGED: _("This is not an Alliance visit card. Check in by GPS or type the code."),
            CardProblem.OTHER_HOUSEHOLD: _(
                "This card belongs to another household. Check the address of this visit."
            ),
            CardProblem.REVOKED: _(
                "This card has been replaced by a newer one. Ask the household for its new card, "
                "or call the community worker."
            ),
            CardProblem.WRONG_CODE: _("This code does not match this household's card. Type it again."),
        }[self.problem]


def card_token(secret_key: str, household_id: int, serial: int) -> str:
    """What the QR code holds: "ALC1.<household>.<serial>.<signature>"."""
    return Signer(secret_key, salt=CARD_SALT).sign(f"{TOKEN_PREFIX}.{household_id}.{serial}").decode()


def short_code(secret_key: str, household_id: int, serial: int) -> str:
    """Eight characters printed under the QR, as "K7QF-3M2X"."""
    digest = hmac.new(
        secret_key.encode(), f"{CARD_SALT}:{household_id}:{serial}".encode(), hashlib.sha256
    ).digest()
    code = base64.b32encode(digest[:5]).decode().translate(_TO_CROCKFORD)
    return f"{code[:4]}-{code[4:]}"


def _normalise_code(typed: str) -> str:
    cleaned = "".join(ch for ch in typed.upper() if ch.isalnum())
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    return f"{cleaned[:4]}-{cleaned[4:]}" if len(cleaned) == 8 else cleaned


@dataclass(frozen=True)
class CardProof:
    household_id: int
    serial: int
    by: str  # "qr" or "code"


def verify_card(secret_key: str, household: Household, *, token: str = "", code: str = "") -> CardProof:
    """Check a scanned token or a typed code against the household of the visit. Raises CardRefused."""
    if token:
        try:
            payload = Signer(secret_key, salt=CARD_SALT).unsign(token.strip()).decode()
            prefix, household_text, serial_text = payload.split(".")
            if prefix != TOKEN_PREFIX:
                raise ValueError(prefix)
            household_id, serial = int(household_text), int(serial_text)
        except (BadSignature, ValueError):
            raise CardRefused(CardProblem.FORGED) from None
        if household_id != household.id:
            raise CardRefused(CardProblem.OTHER_HOUSEHOLD)
        if serial != household.card_serial:
            raise CardRefused(CardProblem.REVOKED)
        return CardProof(household.id, serial, "qr")
    typed = _normalise_code(code)
    if typed == short_code(secret_key, household.id, household.card_serial):
        return CardProof(household.id, household.card_serial, "code")
    for old_serial in range(1, household.card_serial):
        if typed == short_code(secret_key, household.id, old_serial):
            raise CardRefused(CardProblem.REVOKED)
    raise CardRefused(CardProblem.WRONG_CODE)


def qr_svg(data: str, scale: int = 6) -> str:
    """The QR code as inline SVG (no script, no external file): printable at any size."""
    return segno.make(data, error="m").svg_inline(scale=scale, dark="#000", light="#fff", border=2)


@dataclass(frozen=True)
class VisitCard:
    household: Household
    token: str
    code: str
    svg: str
    community_name: str
    community_workers: list[tuple[str, str]]  # (name, username), who to call


async def visit_card(principal: Principal, household_id: int, secret_key: str) -> VisitCard:
    """The printable card of a household the principal may see (coordinators, community workers)."""
    household = await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    await household.fetch_related("region")
    token = card_token(secret_key, household.id, household.card_serial)
    workers = await User.filter(
        role="community_worker", region_id=household.region_id, is_active=True
    ).values_list("display_name", "username")
    return VisitCard(
        household=household,
        token=token,
        code=short_code(secret_key, household.id, household.card_serial),
        svg=qr_svg(token),
        community_name=household.region.name,
        community_workers=[(name, username) for name, username in workers],
    )


async def reissue_card(principal: Principal, household_id: int) -> Household:
    """A new card for the household; the old one (and its code) is refused from now on."""
    household = await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    await Household.filter(id=household.id).update(card_serial=F("card_serial") + 1)
    await household.refresh_from_db()
    await record(
        principal, "household.card_reissued", "household", household.id, {"serial": household.card_serial}
    )
    return household
