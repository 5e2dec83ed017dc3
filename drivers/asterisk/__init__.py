"""Asterisk: AMI client, FastAGI server, config generator and the switch simulator."""
