"""Case rules of 接诉即办: the ticket lifecycle, working-day deadlines, the grab window and
the dispatch catalogue. Pure functions and small classes; imports only ``core``."""
