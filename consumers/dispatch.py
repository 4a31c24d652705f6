"""Dispatch's address book: the only place a citizen's e-mail address or phone number is kept.

Keyed by `pipeline.identity.contact_key(klant, contactId)` (the column keeps its name
`contact_id`): a contactId alone is only unique per channel system.
It lives in its own database, apart from the warehouse, and an address is deleted once
its invitation has been sent or has expired.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select

from consumers.warehouse import create_tables, make_engine
from pipeline.identity import contact_key

_metadata = MetaData()
addresses = Table(
    "dispatch_addresses",
    _metadata,
    Column("contact_id", String(100), primary_key=True),
    Column("email", String(320)),
    Column("telefoon", String(40)),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)


class SqlAddressBook:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        create_tables(self.engine, _metadata)

    def remember(self, contact_id: str, email: str | None, telefoon: str | None) -> None:
        if not email and not telefoon:
            return
        row = {
            "contact_id": contact_id,
            "email": email,
            "telefoon": telefoon,
            "stored_at": datetime.now(UTC),
        }
        with self.engine.begin() as conn:
            conn.execute(delete(addresses).where(addresses.c.contact_id == contact_id))
            conn.execute(addresses.insert().values(**row))

    def lookup(self, contact_id: str) -> tuple[str | None, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(addresses.c.email, addresses.c.telefoon).where(
                    addresses.c.contact_id == contact_id
                )
            ).first()
        return (row[0], row[1]) if row else None

    def lookup_for(self, klant: str, contact_id: str) -> tuple[str | None, str | None] | None:
        return self.lookup(contact_key(klant, contact_id))

    def forget(self, contact_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(addresses).where(addresses.c.contact_id == contact_id))
