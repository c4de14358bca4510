"""Turning results into terminal tables, files and figures (outside the event loop)."""
