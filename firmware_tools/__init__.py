"""Flash and verify firmware of serial-attached boards."""
