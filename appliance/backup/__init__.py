"""Backup and restore: one archive with a manifest of hashes, validated before any change."""
