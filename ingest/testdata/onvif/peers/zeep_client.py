#!/usr/bin/env python3
"""Independent ONVIF client for cross-checking vms-ingest: onvif-zeep (PyPI, MIT; WSDL-driven
zeep SOAP) asks a device what our client asks and prints the answers as JSON on stdout.

Usage: zeep_client.py HOST PORT USER PASSWORD
Runs only against the emulator inside the test's network namespace.
"""
import datetime as dt
import json
import os
import sys

from onvif import ONVIFCamera


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    wsdl = os.path.join(sys.prefix, "lib", "python%d.%d" % sys.version_info[:2], "site-packages", "wsdl")
    cam = ONVIFCamera(host, port, user, password, wsdl, adjust_time=True)
    info = cam.devicemgmt.GetDeviceInformation()
    media = cam.create_media_service()
    profiles = []
    for p in media.GetProfiles():
        req = media.create_type("GetStreamUri")
        req.ProfileToken = p.token
        req.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        uri = media.GetStreamUri(req).Uri
        vec = p.VideoEncoderConfiguration
        profiles.append({
            "token": p.token,
            "name": p.Name,
            "encoding": vec.Encoding if vec is not None else None,
            "width": vec.Resolution.Width if vec is not None else None,
            "height": vec.Resolution.Height if vec is not None else None,
            "stream_uri": uri,
        })
    snap = media.GetSnapshotUri({"ProfileToken": profiles[0]["token"]}).Uri
    diff = cam.dt_diff.total_seconds() if isinstance(cam.dt_diff, dt.timedelta) else None
    print(json.dumps({
        "manufacturer": info.Manufacturer,
        "model": info.Model,
        "firmware_version": info.FirmwareVersion,
        "serial_number": info.SerialNumber,
        "hardware_id": info.HardwareId,
        "profiles": profiles,
        "snapshot_uri": snap,
        "clock_offset_secs": diff,
    }))


if __name__ == "__main__":
    main()
