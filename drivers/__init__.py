"""What talks to the outside world: Asterisk (AMI, FastAGI), DAHDI spans, serial boards, audio."""
