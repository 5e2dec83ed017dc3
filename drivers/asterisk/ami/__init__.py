"""The Asterisk Manager Interface: codec (sans-IO), protocol, reconnecting client."""
