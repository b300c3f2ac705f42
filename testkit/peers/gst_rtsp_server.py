#!/usr/bin/python3
"""An independent RTSP server for interop tests: GStreamer's rtsp-server serving live x264
(or x265) video on 127.0.0.1. Run with Debian's /usr/bin/python3 (the GI bindings live there).

usage: gst_rtsp_server.py PORT [PROFILE]   -> serves rtsp://127.0.0.1:PORT/test, prints READY

Profiles: h264 (Main, no B-frames, 640x360), h264-bframes (High, 2 B-frames, B-pyramid, as
many cameras and every x264 default send), h265, h265-bframes (3 B-frames), h264-gop8 (one
keyframe every 8 s), h264-1080p (1920x1080 at 4 Mbit/s).
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
    size = "width=1920,height=1080" if codec == "h264-1080p" else "width=640,height=360"
    src = f"videotestsrc is-live=true pattern=ball ! video/x-raw,{size},framerate=30/1"
    encoders = {
        "h265": "x265enc tune=zerolatency key-int-max=30 speed-preset=ultrafast "
                "! rtph265pay name=pay0 pt=96 config-interval=-1",
        "h265-bframes": "x265enc key-int-max=30 speed-preset=ultrafast "
                        "option-string=bframes=3:b-adapt=0:open-gop=0:rc-lookahead=5 "
                        "! rtph265pay name=pay0 pt=96 config-interval=-1",
        "h264": "x264enc tune=zerolatency key-int-max=30 bframes=0 speed-preset=ultrafast "
                "! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=-1",
        "h264-gop8": "x264enc tune=zerolatency key-int-max=240 bframes=0 speed-preset=ultrafast "
                     "! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=-1",
        "h264-1080p": "x264enc tune=zerolatency key-int-max=30 bframes=0 speed-preset=ultrafast "
                      "bitrate=4000 ! video/x-h264,profile=main "
                      "! rtph264pay name=pay0 pt=96 config-interval=-1",
        "h264-bframes": "x264enc key-int-max=30 bframes=2 b-adapt=false b-pyramid=true "
                        "rc-lookahead=5 speed-preset=ultrafast "
                        "! video/x-h264,profile=high ! rtph264pay name=pay0 pt=96 config-interval=-1",
    }
    enc = encoders.get(codec)
    if enc is None:
        print(f"FAILED unknown profile {codec}", flush=True)
        sys.exit(1)
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
