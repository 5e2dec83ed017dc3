"""SMS through the GSM modem: the outbox (retries, delivery reports) and the inbox (routing)."""
