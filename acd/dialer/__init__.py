"""The outbound dialer: campaigns, lists, pacing, do-not-call and the dialing engine."""
