"""A receiver in durable mode, and the two ways to run its workers."""
