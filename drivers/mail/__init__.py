"""Mail to and from the outside: IMAP in (IDLE where the server has it), SMTP out, MIME
parsing into plain text, sanitized HTML and attachments. No business rule lives here."""
