"""Transcription: post-call jobs, live taps and keyword alerts."""
