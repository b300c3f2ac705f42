#!/usr/bin/python3
"""An independent RTSP server for interop tests: GStreamer's rtsp-server serving live x264
(or x265) video on 127.0.0.1. Run with Debian's /usr/bin/python3 (the GI bindings live there).

usage: gst_rtsp_server.py PORT [h264|h265]   -> serves rtsp://127.0.0.1:PORT/test, prints READY
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port = sys.argv[1]
    codec = sys.argv[2] if len(sys.argv) > 2 else "h264"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    src = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1"
    if codec == "h265":
        enc = "x265enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! rtph265pay name=pay0 pt=96 config-interval=-1"
    else:
        enc = ("x264enc tune=zerolatency key-int-max=30 bframes=0 speed-preset=ultrafast "
               "! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=-1")
    factory.set_launch(f"( {src} ! {enc} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print("FAILED to bind", flush=True)
        sys.exit(1)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
