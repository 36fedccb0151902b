"""changelake: DynamoDB changes as a durable, queryable log, and search indexes rebuilt from it."""

__version__ = "0.1.0"
