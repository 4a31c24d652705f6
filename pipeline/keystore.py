"""Moved: the key store's port is `pipeline.sealing.KeyStore`, its SQL adapter
`pipeline.runtimes.kafka.keystore` (domain modules import no SQLAlchemy).

Kept so existing imports work; the adapter is imported only when one of these is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.sealing import Sealer

_ADAPTER = "pipeline.runtimes.kafka.keystore"
_MOVED = frozenset(["KeyStore", "SqlKeyStore", "KEY_CACHE_SECONDS", "klant_keys"])


def sealer_for(settings: object) -> Sealer | None:
    """The sealer of a Kafka deployment (None when KLANTSIGNAAL_KAFKA_SEAL=0)."""
    made: Sealer | None = importlib.import_module(_ADAPTER).sealer_for(settings)
    return made


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_ADAPTER), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
