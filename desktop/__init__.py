"""Sluice, a desktop mail client for heavy inboxes."""

__version__ = "0.1.0"
