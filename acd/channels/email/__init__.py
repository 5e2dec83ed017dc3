"""The e-mail channel's rules: which queue a new thread goes to, which thread a reply
belongs to, when to auto-reply (and when not: loops)."""
