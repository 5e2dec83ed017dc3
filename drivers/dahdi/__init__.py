"""DAHDI: E1/analog span and channel status and alarms."""
