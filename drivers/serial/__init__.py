"""Serial-attached hardware: front panel, GSM modem, hardware watchdog."""
