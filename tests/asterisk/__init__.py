"""End-to-end scenarios against a real Asterisk 22 (`make test-asterisk`; not in `make test`)."""
