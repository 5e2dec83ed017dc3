"""A refused body over a real loopback socket (webui/service.py ``LimitedRequest``): the
413 comes at once, the body still being sent is read and dropped, and the connection ends
with a clean close, not a reset. Closed at once with the body unread, the kernel reset the
connection: a CI run's client posting 2 MB got a broken pipe where the 413 was due."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, error, protocol, reactor, task
from twisted.trial import unittest
from twisted.web import resource

from webui.json_body import MAX_BODY
from webui.service import QuietSite, admin_body_limits


class Echo(resource.Resource):
    isLeaf = True

    def render(self, request: Any) -> bytes:
        return b"read " + str(len(request.content.read())).encode()


class Uploader(protocol.Protocol):
    """Sends the head, then the body only once the answer has come."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.head, self.body = head, body
        self.data = b""
        self.answered: defer.Deferred[None] = defer.Deferred()
        self.ended: defer.Deferred[Any] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.head)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data and not self.answered.called:
            self.answered.callback(None)

    def connectionLost(self, reason: Any) -> None:
        self.ended.callback([reason])  # a Failure: in a list, not an errback


class LingeringCloseTests(unittest.TestCase):
    async def test_a_refused_upload_still_being_sent_gets_its_413_and_a_clean_close(self) -> None:
        port = reactor.listenTCP(
            0, QuietSite(Echo(), admin_body_limits(5120)), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        size = 2 << 20
        head = b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
        assert size > MAX_BODY
        client = Uploader(head, b"x" * size)
        await protocol.ClientCreator(reactor, lambda: client).connectTCP(
            "127.0.0.1", port.getHost().port
        )
        await client.answered
        self.assertTrue(client.data.startswith(b"HTTP/1.1 413 Content Too Large\r\n"))
        await task.deferLater(reactor, 0.3, lambda: None)
        # the server waits for the body it refused (closed now, the body's bytes would come
        # to a closed socket, and the kernel answers them with a reset)
        self.assertFalse(client.ended.called)
        assert client.transport is not None
        client.transport.write(client.body)  # the browser goes on sending the upload
        (reason,) = await client.ended
        # the server read it all, then closed: no reset
        self.assertTrue(reason.check(error.ConnectionDone), reason)
        self.assertNotIn(b"read ", client.data)
