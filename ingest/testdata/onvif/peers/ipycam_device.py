#!/usr/bin/env python3
"""Runs the ONVIF side of `ipycam` (PyPI, MIT) as an independent device emulator for the
vms-ingest ONVIF tests: its SOAP device/media services over HTTP and, optionally, its
WS-Discovery responder (which binds 0.0.0.0:3702 and multicasts Hello/Bye).

Run only inside a network namespace the test created (`unshare -n`): the discovery responder
listens on every interface of the namespace it is in and multicasts. The test suite does that;
do not run this by hand on a real network.

ipycam's package __init__ imports OpenCV for its video pipeline, which the ONVIF services do not
use; we load its `config`, `onvif`, `discovery` and `http` modules through a bare package object
so the test dependencies stay at ipycam (--no-deps) + numpy.

Options beyond ipycam's own:
  --clock-skew SECS   the emulated camera's clock runs SECS ahead of the host (negative: behind);
                      applies to GetSystemDateAndTime and to its WS-Security freshness check.
  --preauth-datetime  answer GetSystemDateAndTime without credentials, as ONVIF Core requires
                      (ipycam checks credentials on every request by default).
Prints "READY <port>" on stdout once serving.
"""
import argparse
import datetime as _dt
import importlib.util
import sys
import threading
import time
import types
from http.server import ThreadingHTTPServer

spec = importlib.util.find_spec("ipycam")
if spec is None or not spec.submodule_search_locations:
    sys.exit("ipycam is not installed (scripts/install-onvif-test-deps)")
pkg = types.ModuleType("ipycam")
pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["ipycam"] = pkg

from ipycam.config import CameraConfig  # noqa: E402
import ipycam.onvif as onvif  # noqa: E402
from ipycam.discovery import WSDiscoveryServer  # noqa: E402
from ipycam.http import IPCameraHTTPHandler  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", required=True, help="address the device advertises and binds")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--name", default="Virtual Camera")
    ap.add_argument("--discovery", action="store_true")
    ap.add_argument("--clock-skew", type=float, default=0.0)
    ap.add_argument("--preauth-datetime", action="store_true")
    args = ap.parse_args()

    skew = args.clock_skew
    if skew:
        real_gmtime = time.gmtime

        class SkewedTime(types.SimpleNamespace):
            pass

        onvif.time = SkewedTime(gmtime=lambda secs=None: real_gmtime(
            (time.time() if secs is None else secs) + skew), time=lambda: time.time() + skew)

        class SkewedDatetime(_dt.datetime):
            @classmethod
            def now(cls, tz=None):
                return _dt.datetime.now(tz) + _dt.timedelta(seconds=skew)

        onvif.datetime = SkewedDatetime

    cfg = CameraConfig(name=args.name, local_ip=args.ip)
    if args.user:
        cfg.username = args.user
        cfg.password = args.password

    httpd = ThreadingHTTPServer((args.ip, args.port), IPCameraHTTPHandler)
    cfg.onvif_port = httpd.server_address[1]
    service = onvif.ONVIFService(cfg, None)
    if args.preauth_datetime:
        verify = service.verify_usernametoken
        service.verify_usernametoken = lambda body: (
            "GetSystemDateAndTime" in body or verify(body))

    camera = types.SimpleNamespace(config=cfg, onvif=service)
    IPCameraHTTPHandler.camera = camera

    disc = None
    if args.discovery:
        disc = WSDiscoveryServer(service)
        disc.start()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"READY {cfg.onvif_port}", flush=True)
    try:
        sys.stdin.read()  # the test closes our stdin (or kills us) to stop
    finally:
        httpd.shutdown()
        if disc:
            disc.stop()


if __name__ == "__main__":
    main()
