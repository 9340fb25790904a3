"""The inbox console example."""
