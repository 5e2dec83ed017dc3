"""The daemon ccboxd and its admin CLI: config, service tree, event bus, database, services."""
