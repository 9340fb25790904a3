"""Receivers on several hosts sharing one Redis: durable and inline modes."""
