#!/usr/bin/env python3
"""Independent WS-Discovery client for cross-checking vms-ingest discovery: WSDiscovery (PyPI,
LGPL-3.0+, run as a separate process) probes for NetworkVideoTransmitters on every interface
of the network namespace it runs in (the test's own) and prints what answered as JSON.
Usage: wsd_probe.py TIMEOUT_SECS
"""
import json
import sys
import threading

from wsdiscovery import QName
from wsdiscovery.discovery import ThreadedWSDiscovery


def _quiet_thread_errors(args):
    # WSDiscovery's sender threads raise on address families the namespace does not carry
    # (IPv6 is disabled there); one line instead of a traceback.
    print(f"wsdiscovery thread error (ignored): {args.exc_value!r}", file=sys.stderr)


def main():
    threading.excepthook = _quiet_thread_errors
    timeout = float(sys.argv[1])
    wsd = ThreadedWSDiscovery()
    wsd.start()
    try:
        nvt = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
        found = wsd.searchServices(types=[nvt], timeout=timeout)
        print(json.dumps([{
            "endpoint": s.getEPR(),
            "xaddrs": list(s.getXAddrs()),
            "scopes": [sc.getValue() for sc in s.getScopes()],
        } for s in found]))
    finally:
        wsd.stop()


if __name__ == "__main__":
    main()
