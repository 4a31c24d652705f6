"""Runtimes drive the stages of pipeline.topology: embedded (SQLite) and Kafka (faust)."""
