"""The desk's chats and e-mails: the staff stream (``GET /chat-desk/stream``) and the JSON
API (``/chat-desk/api/...``) served by Twisted on the admin site, on the reactor."""
