"""The ACD: agents, skills, queues, routing strategies, outbound dialer and callbacks."""
