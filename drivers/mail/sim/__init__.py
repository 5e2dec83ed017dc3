"""A loopback IMAP + SMTP server (Twisted) for the demo and the tests: in-memory mailboxes
per user, IDLE, and every mail the SMTP side received kept in ``sent``."""

from drivers.mail.sim.server import LoopbackMailServer, SentMail

__all__ = ["LoopbackMailServer", "SentMail"]
