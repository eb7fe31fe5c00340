"""Duplicates (并单): suggestions, merging into a master, unmerging."""
