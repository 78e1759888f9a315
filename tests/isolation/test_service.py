#!/usr/bin/env python3
"""crosswayd --service as a VMM sees it: backends connect over SOCK_SEQPACKET
(the default path, or a socket handed over LISTEN_FDS-style), each HELLO gets
its own sandboxed child process, peers run by another uid are refused unless
--allow-uid names them, READY=1 reaches NOTIFY_SOCKET, and SIGTERM ends every
child. The backend side is a few lines of struct packing, straight from
wire/crossway-backend.h."""

import os
import signal
import socket
import struct
import subprocess
import time

from harness import PROCS, Failure, Skip, Weston, check, env_path, run, sanitized, wait_until

HELLO = 0x0001
HELLO_REPLY = 0x8001
ERROR = 0x80FF
CAPSET_CROSS_DOMAIN = 5
NOBODY = 65534


def hello_packet(vm, ctx_id, serial=1):
    body = struct.pack("<6I64s64s", 1, 1, CAPSET_CROSS_DOMAIN, ctx_id, 0, 0,
                       vm.encode(), f"ctx-{ctx_id}".encode())
    return struct.pack("<4I", HELLO, 16 + len(body), serial, 0) + body


def connect_backend(path, vm, ctx_id, timeout=5):
    """Connects, says HELLO and returns (socket, reply type or None)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect(path)
    s.send(hello_packet(vm, ctx_id))
    try:
        reply = s.recv(65536)
    except (ConnectionResetError, socket.timeout):
        reply = b""
    kind = struct.unpack_from("<I", reply)[0] if len(reply) >= 16 else None
    return s, kind


def children_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def gone(pid):
    """No such process, or only a zombie waiting for a (slow) reaper."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def read_log(path):
    with open(path, errors="replace") as f:
        return f.read()


class Service:
    """A hand-started `crosswayd --service`. With @activated the test makes
    the listening socket itself and hands it over as fd 3 with LISTEN_FDS=1
    and LISTEN_PID set to crosswayd's pid, as systemd would."""

    def __init__(self, env, host, args=(), activated=None, notify=None):
        self.log = env.path("service.log")
        e = env.env()
        if notify:
            e["NOTIFY_SOCKET"] = notify
        argv = [env_path("CROSSWAYD"), "--service", "--wayland-display", host.display, *args]
        preexec = None
        if activated is not None:
            e["LISTEN_FDS"] = "1"
            # LISTEN_PID must be crosswayd's own pid: the shell's pid
            # survives the exec.
            argv = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + argv
            fd = activated.fileno()

            def preexec():
                os.dup2(fd, 3)
                os.set_inheritable(3, True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, env=e, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=preexec, close_fds=True,
                                     pass_fds=(3,) if activated is not None else ())
        out.close()
        PROCS.procs.append(self.proc)
        self.path = os.path.join(env.runtime, "crossway", "backend")
        if activated is None:
            wait_until(lambda: os.path.exists(self.path), 5, "the service socket")
        else:
            wait_until(lambda: "Listening" in read_log(self.log), 5, "the service to start")

    def read_log(self):
        return read_log(self.log)


def notify_socket(env):
    path = env.path("notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    return s, path


def test_default_path_two_vms_two_children_ready_and_sigterm(env):
    host = Weston(env, seat=False)
    notify, notify_path = notify_socket(env)
    svc = Service(env, host, notify=notify_path)
    try:
        msg = notify.recv(256)
    except socket.timeout:
        raise Failure("no READY=1 on NOTIFY_SOCKET")
    finally:
        notify.close()
    check(msg == b"READY=1", f"NOTIFY_SOCKET got {msg!r}")
    a, kind_a = connect_backend(svc.path, "vm-a", 1)
    b, kind_b = connect_backend(svc.path, "vm-b", 2)
    check(kind_a == HELLO_REPLY and kind_b == HELLO_REPLY,
          f"HELLO replies: {kind_a}, {kind_b}:\n{svc.read_log()}")
    wait_until(lambda: len(children_of(svc.proc.pid)) == 2, 5, "two context processes")
    kids = children_of(svc.proc.pid)
    check(kids[0] != kids[1], "both backends share one process")
    log = svc.read_log()
    for kid in kids:
        check(f"context process {kid}" in log, f"the log does not name child {kid}:\n{log}")
        if not sanitized():
            # Each child is the outside parent of its sandboxed PID-namespace init.
            inner = children_of(kid)
            check(len(inner) == 1, f"child {kid} has no sandboxed process")
            status = open(f"/proc/{inner[0]}/status").read()
            check("Seccomp:\t2" in status, f"context {inner[0]} has no seccomp filter")
    # The service itself never runs guest code and is not the one sandboxed.
    check(a.fileno() >= 0 and b.fileno() >= 0, "links closed")
    everyone = kids + [p for k in kids for p in children_of(k)]
    svc.proc.send_signal(signal.SIGTERM)
    try:
        code = svc.proc.wait(5)
    except subprocess.TimeoutExpired:
        raise Failure("the service did not stop on SIGTERM")
    check(code == 0, f"the service exited with {code}")
    wait_until(lambda: all(gone(p) for p in everyone), 5, "every context process to end")
    for s in (a, b):
        s.settimeout(2)
        try:
            rest = s.recv(65536)
            while rest:
                rest = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
    check(not os.path.exists(svc.path), "the socket file was left behind")


def test_listen_fds_socket_activation(env):
    host = Weston(env, seat=False)
    path = env.path("activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(8)
    svc = Service(env, host, activated=listener)
    listener.close()
    check(not os.path.exists(os.path.join(env.runtime, "crossway", "backend")),
          "an activated service still made the default socket")
    s, kind = connect_backend(path, "vm-activated", 7)
    check(kind == HELLO_REPLY, f"no HELLO_REPLY through the activated socket:\n{svc.read_log()}")
    s.close()


def connect_as(uid, path, vm):
    """Connects from a child that gave up root for @uid; returns the reply type."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s, kind = connect_backend(path, vm, 9, timeout=3)
            os.write(w, str(kind).encode())
            s.close()
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        got = f.read()
    os.waitpid(pid, 0)
    return None if got in ("", "None") else int(got)


def shared_socket(env, name):
    """A listening socket another uid may reach: a 0755 dir, a 0777 socket."""
    path = env.path(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    os.chmod(path, 0o777)
    listener.listen(8)
    return listener, path


def test_other_uid_is_refused_unless_allowed(env):
    if os.getuid() != 0:
        raise Skip("needs root to run a peer as another uid")
    host = Weston(env, seat=False)
    listener, path = shared_socket(env, "refuse.sock")
    svc = Service(env, host, activated=listener)
    listener.close()
    kind = connect_as(NOBODY, path, "vm-stranger")
    check(kind is None, f"uid {NOBODY} got a reply ({kind}) from a service run by uid 0")
    wait_until(lambda: f"Refusing a connection from uid {NOBODY}" in svc.read_log(), 5,
               "the refusal in the log")
    check(children_of(svc.proc.pid) == [], "a context process was started for the stranger")
    # Our own uid is still served by the same service.
    s, kind = connect_backend(path, "vm-own", 10)
    check(kind == HELLO_REPLY, "the service's own uid was not served")
    s.close()
    PROCS.stop(svc.proc)

    listener, path = shared_socket(env, "allow.sock")
    svc = Service(env, host, args=["--allow-uid", str(NOBODY)], activated=listener)
    listener.close()
    kind = connect_as(NOBODY, path, "vm-friend")
    check(kind == HELLO_REPLY, f"--allow-uid {NOBODY} did not widen the check:\n{svc.read_log()}")


if __name__ == "__main__":
    run(globals())
