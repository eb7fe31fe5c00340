"""Calls: records, transfers to centres, missed calls, per-number figures, hang-up."""
