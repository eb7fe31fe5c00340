"""Real SIP peers for end-to-end tests: SIPp callers and baresip softphones."""
