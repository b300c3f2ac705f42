#!/usr/bin/env python3
"""A second, independent WS-Discovery device for the vms-ingest discovery tests: WSDiscovery
(PyPI, LGPL-3.0+, run as a separate process) publishes one NetworkVideoTransmitter with name,
location and hardware scopes and answers Probes until its stdin closes.

It listens on 0.0.0.0:3702 and multicasts Hello/Bye on every interface it sees, so it must run
inside the test's network namespace only. Prints "READY" when published.
Usage: wsd_publisher.py XADDR NAME LOCATION HARDWARE   (scope values already percent-encoded)
"""
import sys
import threading

from wsdiscovery import QName, Scope
from wsdiscovery.publishing import ThreadedWSPublishing


def _quiet_thread_errors(args):
    # WSDiscovery's sender threads raise on address families the namespace does not carry
    # (IPv6 is disabled there); one line instead of a traceback.
    print(f"wsdiscovery thread error (ignored): {args.exc_value!r}", file=sys.stderr)


def main():
    threading.excepthook = _quiet_thread_errors
    xaddr, name, location, hardware = sys.argv[1:5]
    pub = ThreadedWSPublishing()
    pub.start()
    nvt = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
    scopes = [Scope("onvif://www.onvif.org/type/video_encoder"),
              Scope("onvif://www.onvif.org/name/" + name),
              Scope("onvif://www.onvif.org/location/" + location),
              Scope("onvif://www.onvif.org/hardware/" + hardware)]
    pub.publishService(types=[nvt], scopes=scopes, xAddrs=[xaddr])
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        pub.stop()


if __name__ == "__main__":
    main()
