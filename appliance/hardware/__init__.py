"""The box itself: E1/DAHDI span monitoring, the front panel, the hardware watchdog."""
