"""The Qt window. Only this package imports PySide6; the core never does."""
