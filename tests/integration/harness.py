"""Shared machinery for crossway's end-to-end tests (stdlib only).

A test module defines functions named test_*; `run(globals())` runs each one
in order, prints TAP, and kills every process a test started (each child runs
in its own process group; the whole group goes). A test skips by raising
Skip with the reason. Paths of the built programs come from the environment
meson sets (CROSSWAYD, VMSIM, FAKE_SEAT, RECORDER), so the tests run from any
build directory.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib


class Skip(Exception):
    pass


class Failure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def env_path(name):
    path = os.environ.get(name)
    if not path or not os.path.exists(path):
        raise Skip(f"{name} is not built")
    return path


def need(*programs):
    for p in programs:
        if shutil.which(p) is None:
            raise Skip(f"{p} is not installed")


def wait_until(cond, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise Failure(f"timed out after {timeout} s waiting for {what}")


class Processes:
    """Every process a test starts, so the runner can stop them all."""

    def __init__(self):
        self.procs = []

    def start(self, argv, env=None, log=None, user=None, stdin=None):
        out = open(log, "ab") if log else subprocess.DEVNULL
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             start_new_session=True)
        if log:
            out.close()
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=3):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                self.stop(p)
            else:
                # Its group may have survivors (helpers, forked children).
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.procs = []


PROCS = Processes()


class Env:
    """A private XDG_RUNTIME_DIR and scratch dir for one test."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="crossway-it-")
        os.chmod(self.dir, 0o755)
        self.runtime = os.path.join(self.dir, "run")
        os.mkdir(self.runtime, 0o700)

    def env(self, **extra):
        e = dict(os.environ)
        for k in ("WAYLAND_DISPLAY", "WAYLAND_SOCKET", "DISPLAY", "SWAYSOCK"):
            e.pop(k, None)
        e["XDG_RUNTIME_DIR"] = self.runtime
        e["HOME"] = self.dir
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def wayland_ready(env, display, timeout=10):
    def ok():
        r = subprocess.run(["wayland-info"], env=dict(env, WAYLAND_DISPLAY=display),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        return r.returncode == 0
    wait_until(ok, timeout, f"a compositor on {display}", 0.05)


class Weston:
    """weston headless (pixman), with --debug for weston-screenshooter and,
    when FAKE_SEAT is built, a seat with keyboard and pointer."""

    def __init__(self, env, name="weston", width=800, height=600, seat=True, shell=None):
        need("weston", "wayland-info")
        self.env = env
        self.socket = f"{name}-{os.getpid()}"
        self.display = self.socket
        self.fifo = env.path(f"{name}-seat.fifo")
        self.width, self.height = width, height
        argv = ["weston", "--backend=headless-backend.so", "--use-pixman",
                f"--socket={self.socket}", f"--width={width}", f"--height={height}",
                "--idle-time=0", "--debug"]
        if shell:
            argv.append(f"--shell={shell}")
        self.seat = False
        seat_module = os.environ.get("FAKE_SEAT")
        if seat and seat_module and os.path.exists(seat_module):
            argv.append(f"--modules={seat_module}")
            self.seat = True
        self.proc = PROCS.start(argv, env=env.env(CROSSWAY_SEAT_FIFO=self.fifo),
                                log=env.path(f"{name}.log"))
        wayland_ready(env.env(), self.display)

    def client_env(self, **extra):
        return self.env.env(WAYLAND_DISPLAY=self.display, **extra)

    def input(self, *lines):
        check(self.seat, "this weston has no test seat")
        with open(self.fifo, "w") as f:
            for line in lines:
                f.write(line + "\n")

    def screenshot(self):
        d = tempfile.mkdtemp(dir=self.env.dir)
        subprocess.run(["weston-screenshooter"], cwd=d, env=self.client_env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        files = [f for f in os.listdir(d) if f.endswith(".png")]
        check(files, "weston-screenshooter wrote no file")
        return read_png(os.path.join(d, files[0]))


class Sway:
    """sway headless (pixman); it refuses to run as root, so it runs as
    nobody with its own runtime dir, and clients use the absolute socket."""

    UID = 65534

    def __init__(self, env, name="sway"):
        need("sway", "wayland-info")
        self.env = env
        conf_dir = env.path(f"{name}-config")
        os.mkdir(conf_dir)
        os.chmod(conf_dir, 0o755)
        with open(os.path.join(conf_dir, "config"), "w") as f:
            f.write("xwayland disable\n"
                    "output HEADLESS-1 resolution 800x600 position 0 0\n"
                    "default_border normal\n")
        os.chmod(os.path.join(conf_dir, "config"), 0o644)
        self.runtime = env.path(f"{name}-run")
        os.mkdir(self.runtime, 0o700)
        if os.getuid() == 0:
            os.chown(self.runtime, self.UID, self.UID)
            user = self.UID
        else:
            user = None
        e = env.env(WLR_BACKENDS="headless", WLR_RENDERER="pixman",
                    WLR_LIBINPUT_NO_DEVICES="1", HOME=conf_dir)
        e["XDG_RUNTIME_DIR"] = self.runtime
        self.proc = PROCS.start(["sway", "-c", os.path.join(conf_dir, "config")], env=e,
                                log=env.path(f"{name}.log"), user=user)
        self.display = os.path.join(self.runtime, "wayland-1")
        wait_until(lambda: os.path.exists(self.display), 10, "sway's socket")
        wayland_ready(env.env(), self.display)
        socks = [f for f in os.listdir(self.runtime) if f.startswith("sway-ipc")]
        self.swaysock = os.path.join(self.runtime, socks[0]) if socks else None

    def client_env(self, **extra):
        return self.env.env(WAYLAND_DISPLAY=self.display, **extra)

    def swaymsg(self, *args):
        r = subprocess.run(["swaymsg", *args], env=dict(self.client_env(), SWAYSOCK=self.swaysock),
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def screenshot(self):
        need("grim")
        path = os.path.join(self.env.dir, f"grim-{time.monotonic_ns()}.png")
        subprocess.run(["grim", path], env=self.client_env(), check=True, timeout=10,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return read_png(path)


class GuestSocket:
    """A process offering guests a Wayland socket in the test's runtime dir,
    its log kept in a file."""

    def __init__(self, env, vm, socket, argv, what):
        self.env = env
        self.vm = vm
        self.socket = socket
        self.log = env.path(f"{socket}.log")
        self.proc = PROCS.start(argv, env=env.env(), log=self.log)
        wait_until(lambda: os.path.exists(os.path.join(env.runtime, socket)), 5,
                   f"{what}'s socket")
        self.display = socket

    def client_env(self, **extra):
        return self.env.env(WAYLAND_DISPLAY=self.display, **extra)

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class Crossway(GuestSocket):
    """`crosswayd --listen`: a Wayland socket whose clients are served, each
    by its own sandboxed crosswayd process, against the host compositor."""

    def __init__(self, env, host, vm="vm-test", args=(), name=None):
        socket = name or f"crossway-{vm}"
        super().__init__(env, vm, socket,
                         [env_path("CROSSWAYD"), "--listen", socket, "--vm", vm,
                          "--wayland-display", host.display, *args], "crosswayd")


class VmSim(GuestSocket):
    """crossway-vmsim: a simulated VM named @vm whose apps are each served by
    their own crosswayd, spawned over the backend link, on @host."""

    def __init__(self, env, host, vm="vm-sim", args=(), crosswayd_args=()):
        argv = [env_path("CROSSWAY_VMSIM"), "--socket", f"vmsim-{vm}", "--vm", vm,
                "--crosswayd", env_path("CROSSWAYD"), "--wayland-display", host.display,
                "--verbose", *args]
        for a in crosswayd_args:
            argv += ["--crosswayd-arg", a]
        super().__init__(env, vm, f"vmsim-{vm}", argv, "crossway-vmsim")

    def crosswayd_pids(self):
        """crosswayd processes vmsim's children spawned (one per app)."""
        out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True,
                             text=True).stdout
        rows = [line.split() for line in out.splitlines()]
        children = {r[0] for r in rows if len(r) == 3 and r[1] == str(self.proc.pid)}
        return [int(r[0]) for r in rows if len(r) == 3 and r[1] in children
                and r[2].startswith("crosswayd")]


# ---------------------------------------------------------------- app pixels

def window_histogram(img, bg_pixel):
    """Colours of everything that is not the desktop background."""
    hist = {}
    for r, g, b in img.region(0, 40, img.width, img.height):
        if abs(r - bg_pixel[0]) + abs(g - bg_pixel[1]) + abs(b - bg_pixel[2]) < 40:
            continue
        key = (r // 32, g // 32, b // 32)
        hist[key] = hist.get(key, 0) + 1
    return hist


def app_pixels(env, app, settle, front, name, static=False):
    """Runs @app on a fresh weston, directly (@front None) or through
    @front(env, host, vm=...), and returns the colours of its window and
    how many pixels it changed. A @static app is shot once the screen stops
    changing; an animated one after @settle seconds."""
    host = Weston(env, name=name)
    bg = empty_desktop(host)
    client_env = host.client_env()
    if front is not None:
        client_env = front(env, host, vm=f"vm-{name}").client_env()
    PROCS.start(app, env=client_env, log=env.path(f"{name}-app.log"))
    time.sleep(settle)
    shot = settled_screenshot(host, app[0]) if static else host.screenshot()
    # Background: a pixel the window does not cover, from the empty desktop.
    return window_histogram(shot, bg.pixel(bg.width - 5, bg.height - 5)), changed_pixels(bg, shot)


def compare_app(env, app, front, settle=1.5, min_similarity=0.6, static=False):
    """@app directly and through @front draw the same pixels and colours."""
    need(app[0])
    direct, direct_changed = app_pixels(env, app, settle, None, "direct", static)
    through, through_changed = app_pixels(env, app, settle, front, "through", static)
    sim = histogram_similarity(direct, through)
    print(f"# {app[0]}: {direct_changed} pixels directly, {through_changed} through "
          f"{front.__name__}, colour similarity {sim:.2f}")
    check(direct_changed > 1000, f"{app[0]} drew nothing even directly ({direct_changed} pixels)")
    check(through_changed > 0.5 * direct_changed,
          f"{app[0]} through {front.__name__} changed {through_changed} pixels, "
          f"directly {direct_changed}")
    check(sim >= min_similarity, f"{app[0]}: colours differ (similarity {sim:.2f})")


# ---------------------------------------------------------------- clipboard

def clipboard_payload(size):
    """Binary, every byte value, not a repeating page: catches offsets."""
    return bytes((i * 7 + (i >> 8) * 13) & 0xff for i in range(size))


def copy_then_paste(env, copy_env, paste_env, size=1 << 20, before_paste=None):
    """wl-copy @size bytes on @copy_env, wl-paste them on @paste_env (after
    calling @before_paste, which may return a different paste env) and
    return (expected, pasted)."""
    need("wl-copy", "wl-paste")
    data = clipboard_payload(size)
    src = env.path("payload.bin")
    with open(src, "wb") as f:
        f.write(data)
    # wl-copy maps a surface to get keyboard focus for the selection.
    copier = PROCS.start(["wl-copy", "--foreground", "--type", "application/octet-stream"],
                         env=copy_env, log=env.path("copy.log"), stdin=open(src, "rb"))
    time.sleep(1.5)
    if before_paste is not None:
        paste_env = before_paste() or paste_env
    got = subprocess.run(["wl-paste", "--no-newline", "--type", "application/octet-stream"],
                         env=paste_env, capture_output=True, timeout=30)
    check(copier.poll() is None or copier.returncode == 0, "wl-copy died")
    return data, got.stdout


# ---------------------------------------------------------------- pixels

class Image:
    def __init__(self, width, height, rgba):
        self.width, self.height, self.rgba = width, height, rgba

    def pixel(self, x, y):
        i = (y * self.width + x) * 4
        return tuple(self.rgba[i:i + 4])

    def region(self, x0, y0, x1, y1):
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(self.width, x1), min(self.height, y1)
        for y in range(y0, y1):
            row = self.rgba[(y * self.width + x0) * 4:(y * self.width + x1) * 4]
            for i in range(0, len(row), 4):
                yield row[i], row[i + 1], row[i + 2]

    def colors(self, x0, y0, x1, y1, quant=32):
        """Histogram of colors quantised to @quant levels, in a region."""
        hist = {}
        for r, g, b in self.region(x0, y0, x1, y1):
            key = (r // quant, g // quant, b // quant)
            hist[key] = hist.get(key, 0) + 1
        return hist

    def count(self, predicate, x0=0, y0=0, x1=None, y1=None):
        x1 = self.width if x1 is None else x1
        y1 = self.height if y1 is None else y1
        return sum(1 for p in self.region(x0, y0, x1, y1) if predicate(p))


def changed_pixels(a, b):
    """Pixels that differ below weston's 40-pixel panel (its clock ticks)."""
    return sum(1 for p, q in zip(a.region(0, 40, a.width, a.height),
                                 b.region(0, 40, b.width, b.height)) if p != q)


def settled_screenshot(host, what="the screen", timeout=10.0, quiet=0.5):
    """A screenshot taken once the screen has not changed for @quiet
    seconds: for a screen with nothing animated on it, the first frames may
    still be half drawn, and on a loaded machine a client can pause for a
    while between drawing its frame and its contents."""
    last = host.screenshot()
    deadline = time.monotonic() + timeout
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        shot = host.screenshot()
        if changed_pixels(last, shot) != 0:
            still_since = time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return shot
        last = shot
    raise Failure(f"{what} never settled")


def empty_desktop(host, timeout=15.0):
    """The desktop once the shell has drawn its background (the screen is
    black until then, and still: stillness alone does not say it is done)."""
    deadline = time.monotonic() + timeout
    while True:
        shot = settled_screenshot(host, "the empty desktop")
        if shot.pixel(shot.width - 5, shot.height - 5)[:3] != (0, 0, 0):
            return shot
        if time.monotonic() > deadline:
            raise Failure("the shell never drew the desktop background")
        time.sleep(0.2)


def histogram_similarity(a, b):
    """Overlap of two color histograms, 0 (disjoint) to 1 (identical)."""
    ta, tb = sum(a.values()) or 1, sum(b.values()) or 1
    return sum(min(a.get(k, 0) / ta, b.get(k, 0) / tb) for k in set(a) | set(b))


def read_png(path):
    """Reads a PNG into RGBA, with ImageMagick when it is there (fast), else
    with the decoder below."""
    if shutil.which("convert"):
        size = subprocess.run(["identify", "-format", "%w %h", path], capture_output=True,
                              text=True, check=True).stdout.split()
        rgba = subprocess.run(["convert", path, "-depth", "8", "rgba:-"], capture_output=True,
                              check=True).stdout
        return Image(int(size[0]), int(size[1]), rgba)
    return decode_png(path)


def decode_png(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what grim and
    weston-screenshooter write)."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    pos, idat, width = 8, [], 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and ctype in (2, 6) and interlace == 0,
                  f"unsupported PNG type {depth}/{ctype}/{interlace}")
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray(width * height * 4)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xff
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xff
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xff
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        for x in range(width):
            o = (y * width + x) * 4
            out[o:o + 3] = line[x * channels:x * channels + 3]
            out[o + 3] = line[x * channels + 3] if channels == 4 else 255
        prev = line
    return Image(width, height, out)


# ---------------------------------------------------------------- runner

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def sanitizer_reports(env):
    """Fails the test when any process it ran wrote a sanitizer report."""
    for log in os.listdir(env.dir):
        if not log.endswith(".log"):
            continue
        with open(env.path(log), errors="replace") as f:
            text = f.read()
        for mark in SANITIZER_MARKS:
            if mark in text:
                start = text.index(mark)
                raise Failure(f"{log}: sanitizer report:\n{text[start:start + 1500]}")


def sanitized():
    """Whether crosswayd was built with sanitizers (then no seccomp)."""
    return os.environ.get("CROSSWAY_SANITIZED", "0") == "1"


def run(namespace):
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    if only:
        tests = [(n, f) for n, f in tests if any(o in n for o in only)]
    print(f"1..{len(tests)}", flush=True)
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        env = Env()
        try:
            fn(env)
            PROCS.stop_all()
            sanitizer_reports(env)
            print(f"ok {i} {name}", flush=True)
        except Skip as e:
            print(f"ok {i} {name} # SKIP {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"not ok {i} {name}", flush=True)
            for line in (str(e) or repr(e)).splitlines() or [repr(e)]:
                print(f"# {line}")
            if not isinstance(e, Failure):
                for line in traceback.format_exc().splitlines():
                    print(f"# {line}")
            for log in sorted(os.listdir(env.dir)):
                if log.endswith(".log"):
                    print(f"# --- {log} (last lines)")
                    with open(env.path(log), errors="replace") as f:
                        for line in f.read().splitlines()[-15:]:
                            print(f"#   {line}")
        finally:
            PROCS.stop_all()
            env.cleanup()
    sys.exit(1 if failed else 0)
