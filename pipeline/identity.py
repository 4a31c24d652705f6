"""Identity of events and contacts: an id is only unique together with what issued it.

A CloudEvent is identified by (source, id) (CloudEvents 1.0, "id"). A contactId is only
unique within one channel system, and two channel systems may each have a contact "0001"
with a different citizen; within the pipeline a contact is therefore identified by the
citizen's pseudonym together with its contactId (all derived ids — invitation, link token,
response — include the klant), and a channel system looks its contact up by
(source, contactId).
"""

from __future__ import annotations

import hashlib

EVENT_KEY_MAX = 200  # the warehouse's event_id column


def event_key(source: str, event_id: str) -> str:
    """The warehouse key of an event: `<source>#<id>` when that is unambiguous and fits,
    otherwise `sha256:` and the hex digest of source and id."""
    composite = f"{source}#{event_id}"
    if "#" not in source and len(composite) <= EVENT_KEY_MAX:
        return composite
    digest = hashlib.sha256(source.encode("utf-8") + b"\x00" + event_id.encode("utf-8"))
    return "sha256:" + digest.hexdigest()


def contact_key(klant: str, contact_id: str) -> str:
    """The key of one citizen's contact, e.g. in dispatch's address book: contactId alone
    would mix up two citizens whose channel systems both use the same number."""
    digest = hashlib.sha256(f"{klant}\x00{contact_id}".encode())
    return "c-" + digest.hexdigest()[:40]
