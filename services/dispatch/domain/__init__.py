"""Pure dispatch domain: routing and rules, free of Kafka, HTTP and SQL."""
