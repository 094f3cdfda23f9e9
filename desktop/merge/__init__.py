"""Mail merge: personalised batches from a template and recipient data (see docs/merge.md)."""
