"""The operator console: server-rendered pages over the same services as /api/v1."""
