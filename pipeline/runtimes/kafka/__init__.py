"""The Kafka runtime: the topology's stages as faust-streaming agents with tables, the
Publisher port as a transactional kafka-python producer, and sinks on kafka-python consumers.

See docs/kafka.md for how an operator runs it.
"""
