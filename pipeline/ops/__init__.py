"""Operations: health and readiness, Prometheus metrics, structured logs (docs/operations.md).

Nothing here knows the transport; the Kafka consumer lag lives in
pipeline.runtimes.kafka.lag and registers itself with the metrics registry.
"""
