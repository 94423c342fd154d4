"""Test support: real processes, real Kafka, polling with deadlines."""
