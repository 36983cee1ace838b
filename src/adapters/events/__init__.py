"""Change events on the wire: CloudEvents 1.0 JSON, published to NATS JetStream."""
