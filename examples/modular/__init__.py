"""Handlers split across modules with ``Router``; ``app.py`` puts them together."""
