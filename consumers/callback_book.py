"""Callback numbers and addresses a citizen gives in the questionnaire ("Mogen we contact met
u opnemen?"), kept in dispatch's database next to the address book, never in the warehouse.

Keyed by the response: caseworkers need the number as long as the alert of that response
is open, which may be after the invitation's own addresses were deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select

from consumers.warehouse import create_tables, make_engine
from pipeline.identity import contact_key

_metadata = MetaData()
callbacks = Table(
    "callback_addresses",
    _metadata,
    Column("response_id", String(100), primary_key=True),
    Column("klant", String(80), nullable=False, index=True),
    Column("contact_id", String(100), nullable=False),
    Column("via", String(10), nullable=False),  # "telefoon" or "email"
    Column("address", String(320), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)


class SqlCallbackBook:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        create_tables(self.engine, _metadata)

    def remember_callback(
        self, response_id: str, klant: str, contact_id: str, via: str, address: str
    ) -> None:
        row = {
            "response_id": response_id,
            "klant": klant,
            "contact_id": contact_id,
            "via": via,
            "address": address,
            "stored_at": datetime.now(UTC),
        }
        with self.engine.begin() as conn:  # a revision replaces the earlier choice
            conn.execute(delete(callbacks).where(callbacks.c.response_id == response_id))
            conn.execute(callbacks.insert().values(**row))

    def forget_callback(self, response_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(callbacks).where(callbacks.c.response_id == response_id))

    def callback(self, response_id: str) -> tuple[str, str] | None:
        """(via, address) for the caseworker of this response's alert."""
        query = select(callbacks.c.via, callbacks.c.address).where(
            callbacks.c.response_id == response_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row[0], row[1]) if row else None

    def lookup_contact(self, contact_id: str, klant: str | None = None) -> tuple[str, str] | None:
        """(via, address) the citizen gave for a callback about this contact, the latest.
        Give `klant`: a contactId is only unique per channel system."""
        query = (
            select(callbacks.c.via, callbacks.c.address)
            .where(callbacks.c.contact_id == contact_id)
            .order_by(callbacks.c.stored_at.desc())
            .limit(1)
        )
        if klant is not None:
            query = query.where(callbacks.c.klant == klant)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row[0], row[1]) if row else None

    def forget_klant(self, klant: str) -> int:
        """Erase every callback of one citizen (privacy forget); how many rows went."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(callbacks).where(callbacks.c.klant == klant)).rowcount)


class CallbackFirst:
    """Contact details for the caseworker: what the citizen gave in the questionnaire
    ("Ja, bel mij" with a number) wins over the addresses of the invitation.

    Same `lookup(contact_id) -> (email, telefoon) | None` as dispatch's SqlAddressBook.
    """

    def __init__(self, callbacks: SqlCallbackBook, address_book: Any):
        self.callbacks = callbacks
        self.address_book = address_book

    def lookup(self, contact_id: str) -> tuple[str | None, str | None] | None:
        given = self.callbacks.lookup_contact(contact_id)
        if given is None:
            return self.address_book.lookup(contact_id)
        via, address = given
        return (address, None) if via == "email" else (None, address)

    def lookup_for(self, klant: str, contact_id: str) -> tuple[str | None, str | None] | None:
        """As lookup, for one citizen's contact (the address book is keyed by both)."""
        given = self.callbacks.lookup_contact(contact_id, klant)
        if given is None:
            return self.address_book.lookup(contact_key(klant, contact_id))
        via, address = given
        return (address, None) if via == "email" else (None, address)

    def __getattr__(self, name: str) -> Any:  # everything else: the address book itself
        return getattr(self.address_book, name)
