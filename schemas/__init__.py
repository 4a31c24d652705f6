"""The event contract: JSON Schemas (json/), CloudEvents envelope, models, validation."""

from schemas.cloudevents import CloudEvent, new_event
from schemas.types import EVENT_TYPES, EventType, event_type
from schemas.validation import Problem, ValidationFailed, validate_data, validate_event

__all__ = [
    "EVENT_TYPES",
    "CloudEvent",
    "EventType",
    "Problem",
    "ValidationFailed",
    "event_type",
    "new_event",
    "validate_data",
    "validate_event",
]
