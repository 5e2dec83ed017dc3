"""Internet channels routed by the ACD beside calls: web chat and e-mail conversations.

A conversation waits in a chat or e-mail queue and is offered to agents by the same routing
engine as calls (acd/route.py), each agent taking several at once up to its capacity.
"""
