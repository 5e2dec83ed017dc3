"""The switch simulator: speaks AMI and FastAGI on loopback as Asterisk does (see the traces)."""
