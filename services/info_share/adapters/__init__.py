"""Info-share I/O: the register (SQL), the action publisher and feed publisher (Kafka), the topic readers."""
