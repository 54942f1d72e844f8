"""qfbackup: backup and disaster recovery for PostgreSQL 15 trading platforms."""

__version__ = "0.1.0"
