"""A stand-in for systemd's notification socket: a unix DATAGRAM socket (an abstract one when the
path starts with '@', as systemd uses) that prints each message as one JSON line, with the sender's
pid from SCM_CREDENTIALS, and closes any fd received (systemd-notify's BARRIER=1 waits for that)."""
import array, json, os, socket, sys

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind('\0' + path[1:] if path.startswith('@') else path)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({'listening': path}), flush=True)
while True:
    data, ancillary, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(4 * 16) + socket.CMSG_SPACE(12))
    pid, fds = None, array.array('i')
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(payload[0:4], sys.byteorder)
    for fd in fds:
        os.close(fd)
    print(json.dumps({'pid': pid, 'message': data.decode('utf-8', 'replace')}), flush=True)
