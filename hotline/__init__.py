"""Operations tooling: the ``hotline`` command that installs, starts and stops a node.

Not part of the call path: it builds the Asterisk root, renders this node's Asterisk
configuration from the settings, renders prompts, and starts Asterisk and the app process.
"""
