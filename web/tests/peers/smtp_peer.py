"""The mail tests' SMTP server (aiosmtpd, an independent implementation): listens on
127.0.0.1:<port>, writes each accepted message to <dir>/<n>.eml, and refuses for good (550)
every recipient whose address starts with "bounce", as a mail server does for an unknown
mailbox. Prints "ready" once listening; stops when its standard input closes."""

import os
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("bounce"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        path = os.path.join(self.out, "%04d.eml" % self.n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    c = Controller(Handler(out), hostname="127.0.0.1", port=port)
    c.start()
    print("ready", flush=True)
    sys.stdin.read()
    c.stop()


if __name__ == "__main__":
    main()
