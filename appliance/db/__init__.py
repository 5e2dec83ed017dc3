"""The database: schema (SQLAlchemy Core), migrations (Alembic) and the connector service."""
