"""Benchmarks (``make bench``): throughput, latency and national scale against the bare-Kafka limit, same run."""
