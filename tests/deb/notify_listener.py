#!/usr/bin/python3
"""
Stand-in for systemd's notify socket in make test-deb: bind an AF_UNIX
datagram socket (a path, or "@name" for an abstract one), and append every
datagram received to LOG as one line, its "KEY=VALUE" lines joined by " | ",
prefixed by the sender's pid (SCM_CREDENTIALS, as systemd checks it).
Runs until killed.  Usage: notify_listener.py ADDRESS LOG
"""
import os
import socket
import struct
import sys

addr, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
with open(log, "a", buffering=1) as out:
    out.write("listening\n")
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        out.write("%d %s\n" % (pid, msg.decode("utf-8", "replace").replace("\n", " | ")))
        os.fsync(out.fileno())
