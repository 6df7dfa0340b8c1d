"""Database access: the embedded server, the connection pool and the migration runner."""
