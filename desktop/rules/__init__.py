"""Rule files: filter, priority and auto-reply rules written in TOML.

``model`` contains the frozen dataclasses of a loaded rule, ``loader`` reads and
validates rule files, ``when`` parses the search-language condition of a rule, and
``locate`` maps rules and keys to line numbers. Matching and running rules are not
implemented yet.
"""
