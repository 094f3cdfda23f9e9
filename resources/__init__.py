"""Data files shipped with Sluice: icons, styles, key maps and the demo mailbox."""
