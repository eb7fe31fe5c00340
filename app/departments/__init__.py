"""Departments and the dispatch catalogue."""
