"""Users, roles and sessions: argon2id passwords, bearer tokens."""
