"""What every stage shares: the error types, the project folder and environment, process and
SQLite helpers. Imports nothing else of the project."""
