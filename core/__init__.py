"""Shared kernel of the 12345 hotline: settings, typed events, the event bus, DB sessions.

Every domain package (ivr, cti, transcription, callbacks) imports from here and from nowhere
else in the project; ``app`` is the composition root that wires them together.
"""
