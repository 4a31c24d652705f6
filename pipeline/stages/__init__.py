"""The stages: plain Python that takes a record plus the state it needs and returns records.

Nothing here knows about Kafka, faust, SQLite or HTTP; the runtimes in pipeline.runtimes
drive these stages and own the transport.
"""

from pipeline.stages.base import Emit, Rejected, Stage, State

__all__ = ["Emit", "Rejected", "Stage", "State"]
