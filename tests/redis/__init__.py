"""Tests of the Redis idempotency store and inbox, against a real redis-server."""
