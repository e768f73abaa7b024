"""OTLP receivers (HTTP and gRPC) sharing one ingest path."""
