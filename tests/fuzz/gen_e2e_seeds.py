#!/usr/bin/env python3
"""Writes the seed corpus of the end-to-end target (fuzz_e2e.c; the input
format is described at the top of that file) into CORPUS_DIR/e2e.

    tests/fuzz/gen_e2e_seeds.py tests/fuzz/corpus

Only the seeds named here are (re)written; other files there (campaign-*
inputs merged by fuzz-long.sh, crash-* inputs) stay.

Seeds cover each action: shm blobs of 0, 192, 10 000 and 65 536 bytes made
through GET_IMAGE_REQUIREMENTS/CREATE_BLOB and used as wl_shm pools, the
same sizes as VMM resources (ATTACH HOST_FD), clipboard transfers both ways
(read pipes, write pipes and WRITE), imported blobs (the keymap), compositor
events through libwayland and raw, raw cross-domain commands and link
packets, ring release, fences, and the two ways a VMM ends a context.

Object selectors are the ids of the session (config bit 3): registry 2,
compositor 3, shm 4, seat 5, xdg_wm_base 6, data device manager 7, dmabuf 8,
output 9, surface 10, xdg_surface 11, toplevel 12, keyboard 13, pointer 14,
data device 15; the next new id is 16. A stale guess still picks some live
object, so seeds stay usable when the compositor changes. Check what a seed
does with CROSSWAY_FUZZ_VERBOSE=1 BUILDDIR/tests/fuzz/e2e-replay FILE.
"""
import os
import struct
import sys

SESSION = 0x08
FORM20, FORM36, FORM24, FORM16 = 0, 1, 2, 3
NO_PROLOGUE, PROBE = 0x04, 0x10
CLIP_BOTH, CLIP_DENY = 0x20, 0x40
PRIMARY = 0x80

# session object ids
REGISTRY, COMPOSITOR, SHM, SEAT, WM, DDM, DMABUF, OUTPUT = 2, 3, 4, 5, 6, 7, 8, 9
SURFACE, XDG_SURFACE, TOPLEVEL, KEYBOARD, POINTER, DATA_DEVICE = 10, 11, 12, 13, 14, 15
NEXT = 16
SERVER0 = 0x80  # selector of server id 0xff000000

# fuzz_args.h strings[] indices
STR_TEXT = 0xc0

# fd-argument identifier kinds (fuzz_e2e.c take_identifier)
OUR_BLOB, READ_PIPE, VMM_RESOURCE = 0, 1, 3

# make_fd kinds
MEMFD = {0: 0, 192: 1, 10000: 2, 65536: 3, 4096: 4}
SEALED, PIPE_READ, PIPE_WRITE, SOCKET, DEVNULL = 8, 5, 6, 7, 16


def u32(v):
    """An integer argument given in full."""
    return bytes([0xf0]) + struct.pack('<I', v & 0xffffffff)


def i(v):
    """An integer argument: one byte below 0x80, else in full."""
    return bytes([v]) if 0 <= v < 0x80 else u32(v)


def s(text):
    b = text.encode()
    return bytes([len(b)]) + b


def req(sender, op, *args, send=True):
    return bytes([0x00 if send else 0x80, sender, op]) + b''.join(
        a if isinstance(a, bytes) else bytes([a]) for a in args)


def flush():
    return bytes([0x01])


def raw_wayland(data):
    assert len(data) % 4 == 0
    return bytes([0x02, len(data) // 4]) + data


def shm_blob(size, page=0):
    return bytes([0x03, [0, 192, 10000, 65536].index(size), page])


def image_blob(wsel, hsel):
    # XRGB8888, 1 + 7 * wsel by 1 + 5 * hsel
    return bytes([0x03, 4 | wsel << 3, hsel << 2])


def host_fd(kind):
    return bytes([0x04, kind])


def poll(n=1):
    return bytes([0x05, n - 1])


def event(obj, op, *args):
    return bytes([0x06, obj, op]) + b''.join(
        a if isinstance(a, bytes) else bytes([a]) for a in args)


def host_offer(mime=0, lensel=1):
    return bytes([0x07, 0 | lensel << 4, mime])


def host_receive(mime=0):
    return bytes([0x07, 1, mime])


def host_clear():
    return bytes([0x07, 2, 0])


def host_stall():
    """The compositor stops reading, or reads again."""
    return bytes([0x07, 3, 0])


def host_drop_client():
    return bytes([0x07, 4, 0])


def host_read_pipes(times=1):
    return bytes([0x07, 5 | (times - 1) << 4, 0])


def write(pipe, data, hang_up):
    assert len(data) % 16 == 0
    return bytes([0x08, pipe, len(data) // 16]) + data + bytes([1 if hang_up else 0])


def raw_submit(data):
    assert len(data) % 4 == 0
    return bytes([0x09, len(data) // 4]) + data


def raw_packet(data, fd_kind=None):
    assert len(data) % 8 == 0
    return bytes([0x0a, len(data) // 8]) + data + bytes([0 if fd_kind is None else 0x80 | fd_kind])


def resource(sel, op, ring=None):
    if ring is not None:
        return bytes([0x0b, 4 if ring == 'channel' else 0, op | 8])
    return bytes([0x0b, sel, op])


def fence(ring):
    return bytes([0x0c, ring])


def raw_event(data, kinds=()):
    assert len(data) % 4 == 0
    return bytes([0x0d, len(data) // 4]) + data + bytes([len(kinds), *kinds])


def import_blob(sel=0, page=1):
    return bytes([0x0e, sel, page])


def end(close=False):
    return bytes([0x0f, 1 if close else 0])


def wl_msg(obj, op, payload=b''):
    return struct.pack('<II', obj, (8 + len(payload)) << 16 | op) + payload


def xd(cmd, body):
    """A cross-domain command: the 8-byte header, then @body."""
    return struct.pack('<BBHI', cmd, 0, 8 + len(body), 0) + body


def window_with_pool(identifier, pool_size, width, height, stride):
    """create_pool from one identifier, a buffer, ack_configure, attach,
    damage, commit: the toplevel maps (and gets the keyboard)."""
    pool, buffer = NEXT, NEXT + 1
    out = req(XDG_SURFACE, 4, 0, send=False)  # the newest serial: configure's
    out += req(SHM, 0, identifier, i(pool_size), send=False)
    out += req(pool, 0, 0, i(width), i(height), i(stride), 0, send=False)
    out += req(SURFACE, 1, buffer, 0, 0, send=False)
    out += req(SURFACE, 2, 0, 0, i(width), i(height), send=False)
    out += req(SURFACE, 6)
    return out + poll(2)


def seeds():
    out = {}
    out['ok-prologue-20'] = bytes([FORM20])
    out['ok-prologue-36'] = bytes([FORM36])
    out['ok-prologue-24'] = bytes([FORM24])
    out['ok-prologue-16-shared-ring'] = bytes([FORM16])
    out['ok-probe'] = bytes([PROBE])
    out['bad-poll-before-hello'] = bytes([NO_PROLOGUE]) + poll()
    out['ok-session'] = bytes([SESSION]) + poll(2)
    out['ok-session-legacy-layout'] = bytes([SESSION | FORM16]) + poll(2)

    # shm blobs through the cross-domain commands, used as pools
    shapes = {192: (4, 12, 16), 10000: (50, 50, 200), 65536: (128, 128, 512)}
    out['bad-shm-blob-0'] = bytes([SESSION]) + shm_blob(0) + window_with_pool(
        OUR_BLOB, 0, 1, 1, 4)
    for size, (w, h, stride) in shapes.items():
        out['ok-shm-blob-%d' % size] = bytes([SESSION]) + shm_blob(size) + window_with_pool(
            OUR_BLOB, size, w, h, stride)
    # page rounding of the blob size: 4, 16 and 64 KiB guest pages
    for page in (1, 2, 3):
        out['ok-shm-blob-192-page%d' % page] = bytes([SESSION]) + shm_blob(
            192, page) + window_with_pool(OUR_BLOB, 192, 4, 12, 16)
    out['H-33-shm-pool-larger-than-blob'] = bytes([SESSION]) + shm_blob(
        192) + window_with_pool(OUR_BLOB, 1 << 20, 4, 12, 16)

    # the same sizes as resources the VMM made (ATTACH HOST_FD)
    for size in (0, 192, 10000, 65536):
        w, h, stride = shapes.get(size, (1, 1, 4))
        out['ok-host-fd-%d' % size] = bytes([SESSION]) + host_fd(
            MEMFD[size] | SEALED) + window_with_pool(VMM_RESOURCE, max(size, 4), w, h, stride)
    out['H-36-host-fd-unsealed'] = bytes([SESSION]) + host_fd(MEMFD[65536]) + window_with_pool(
        VMM_RESOURCE, 65536, 128, 128, 512)
    out['H-10-host-fd-pipe'] = bytes([SESSION]) + host_fd(PIPE_READ) + window_with_pool(
        VMM_RESOURCE, 4096, 1, 1, 4)
    out['H-10-host-fd-socket'] = bytes([SESSION]) + host_fd(SOCKET) + window_with_pool(
        VMM_RESOURCE, 4096, 1, 1, 4)

    # an image blob as a dmabuf plane
    params, buffer = NEXT, NEXT + 1
    out['ok-image-blob-dmabuf'] = (bytes([SESSION]) + image_blob(9, 12) + req(
        XDG_SURFACE, 4, 0, send=False) + req(DMABUF, 1, send=False) + req(params, 1, OUR_BLOB, 0, 0, i(256), 0, 0, send=False) +
        req(params, 3, i(64), i(61), u32(0x34325258), 0, send=False) + req(
            SURFACE, 1, buffer, 0, 0, send=False) + req(SURFACE, 6) + poll(2))

    # clipboard, host to guest: a read pipe, READ records
    out['ok-clipboard-host-to-guest'] = (bytes([SESSION | CLIP_BOTH]) + host_offer(0, 1) +
                                         poll() + req(SERVER0, 1, STR_TEXT, READ_PIPE) +
                                         poll(3) + poll(2))
    out['ok-clipboard-host-to-guest-large'] = (bytes([SESSION | CLIP_BOTH]) + host_offer(0, 3) +
                                               poll() + req(SERVER0, 1, STR_TEXT, READ_PIPE) +
                                               poll(4) + poll(4) + poll(4))
    out['ok-clipboard-host-denied'] = (bytes([SESSION | CLIP_DENY]) + host_offer(0, 1) + poll() +
                                       req(SERVER0, 1, STR_TEXT, READ_PIPE) + poll(2))
    # clipboard, guest to host: a write pipe, WRITE
    # (set_selection needs the keyboard: a mapped window first)
    source = NEXT + 2
    mapped = shm_blob(65536) + window_with_pool(OUR_BLOB, 65536, 128, 128, 512)
    out['ok-clipboard-guest-to-host'] = (
        bytes([SESSION]) + mapped + req(DDM, 0, send=False) +
        req(source, 0, STR_TEXT, send=False) + req(DATA_DEVICE, 1, source, 0) +
        host_receive(0) + poll() + write(0, b'clipboard text..', False) + write(0, b'', True) +
        poll() + host_clear())
    out['ok-clipboard-guest-to-host-reader-gone'] = (
        bytes([SESSION]) + mapped + req(DDM, 0, send=False) +
        req(source, 0, STR_TEXT, send=False) + req(DATA_DEVICE, 1, source, 0) +
        host_receive(0) + poll() + write(0, b'y' * 4080, False) + host_clear() +
        req(source, 1, send=True) + write(0, b'z' * 64, True) + poll(2))
    # the compositor reads the guest's data late: the write pipe fills up
    out['ok-clipboard-guest-to-host-slow-reader'] = (
        bytes([SESSION]) + mapped + req(DDM, 0, send=False) +
        req(source, 0, STR_TEXT, send=False) + req(DATA_DEVICE, 1, source, 0) +
        host_receive(0) + poll() + write(0, b'w' * 4080, False) * 20 + host_read_pipes(16) +
        write(0, b'w' * 4080, False) * 4 + host_read_pipes(16) + write(0, b'', True) + poll())
    out['bad-write-unknown-pipe'] = bytes([SESSION]) + write(7, b'x' * 16, True)

    # the keymap arrives as a blob identifier; the guest imports it
    for page in (0, 1, 3):
        out['ok-import-keymap-page%d' % page] = bytes([SESSION]) + import_blob(0, page)

    # compositor events through libwayland, and raw ones
    out['ok-events'] = (bytes([SESSION]) + event(SEAT, 0, 3) + event(WM, 0, 7) +
                        event(KEYBOARD, 4, 0, 0, 0, 0, 0) + event(KEYBOARD, 3, 1, 2, 30, 1) +
                        event(POINTER, 0, 1, SURFACE, 0, 0) + event(POINTER, 4, 3, 0, 8) +
                        event(TOPLEVEL, 0, 100, 100, 8, b'\1\0\0\0\4\0\0\0') +
                        event(XDG_SURFACE, 0, 9) + poll(2))
    out['ok-event-display-error'] = bytes([SESSION]) + event(1, 0, WM, 5, s('boom')) + poll()
    out['ok-event-delete-id-live'] = bytes([SESSION]) + event(1, 1, SURFACE) + poll()
    out['ok-event-registry-global'] = (bytes([SESSION]) + event(2, 0, 99, s('wl_compositor'), 5) +
                                       event(2, 0, 98, s('zwlr_layer_shell_v1'), 4) +
                                       event(2, 1, 99) + poll(2))
    out['ok-event-keymap-fds'] = (bytes([SESSION]) + event(13, 0, 1, MEMFD[4096] | SEALED, 64) +
                                  event(13, 0, 1, SOCKET, 64) + poll(2))
    out['bad-raw-event-unknown-object'] = (bytes([SESSION]) + raw_event(wl_msg(77, 0, b'\0' * 4))
                                           + poll())
    out['ok-raw-event-with-fds'] = (bytes([SESSION]) + raw_event(
        wl_msg(13, 0, struct.pack('<II', 1, 64)), (MEMFD[4096], PIPE_WRITE)) + poll(2))

    # raw guest bytes, raw commands, raw packets
    out['ok-raw-wayland-sync'] = bytes([SESSION]) + raw_wayland(wl_msg(1, 0, struct.pack(
        '<I', NEXT))) + flush() + poll(2)
    out['bad-raw-submit-unknown-command'] = bytes([FORM20]) + raw_submit(xd(99, b'\0' * 8))
    out['bad-raw-submit-short'] = bytes([FORM20]) + raw_submit(b'\x04\x00\x08\x00')
    out['bad-raw-packet'] = bytes([FORM20]) + raw_packet(b'\x01' * 16)
    out['bad-raw-packet-with-fd'] = bytes([FORM20]) + raw_packet(b'\x02' * 24, MEMFD[192])
    # HELLO by hand: header (type, size, serial, flags), versions, capset,
    # context, flags, reserved, VM name, context name
    hello = struct.pack('<IIIIIIIIII', 1, 168, 1, 0, 1, 1, 5, 1, 0, 0)
    hello += b'fz'.ljust(64, b'\0') + b'raw'.ljust(64, b'\0')
    out['bad-raw-hello-then-poll-before-init'] = bytes([NO_PROLOGUE]) + raw_packet(hello) + poll()

    # the rings, fences, the end
    out['ok-detach-channel-ring'] = bytes([SESSION]) + poll(2) + resource(
        0, 0, ring='channel') + fence(1) + fence(0)
    out['bad-submit-after-release'] = bytes([SESSION]) + resource(0, 0, ring='channel') + poll()
    out['ok-unref-query-ring'] = bytes([SESSION]) + resource(0, 1, ring='query') + fence(0)
    out['bad-send-detached-blob'] = bytes([SESSION]) + shm_blob(192) + resource(0, 0) + window_with_pool(
        OUR_BLOB, 192, 4, 12, 16)
    out['ok-fences'] = bytes([SESSION]) + fence(0) + fence(2) + poll(4) + fence(0)
    out['bad-fence-unknown-ring'] = bytes([FORM20]) + fence(3)
    out['bad-too-many-polls'] = bytes([SESSION]) + poll(4) * 5
    # backpressure: the compositor stops reading while the guest sends
    damage = wl_msg(SURFACE, 2, struct.pack('<iiii', 0, 0, 1, 1)) * 42  # 1008 bytes
    out['ok-compositor-stalled'] = (bytes([SESSION]) + host_stall() +
                                    (raw_wayland(damage) * 3 + flush()) * 24 + host_stall() +
                                    poll(2))
    out['ok-compositor-drops-client'] = bytes([SESSION]) + host_drop_client() + poll(2) + fence(0)
    out['ok-compositor-drops-client-unpolled'] = bytes([SESSION]) + host_drop_client() + fence(0)
    out['ok-shutdown'] = bytes([SESSION]) + poll() + end(False)
    out['ok-link-closed'] = bytes([SESSION]) + poll() + end(True)
    out['ok-link-closed-during-transfer'] = (bytes([SESSION | CLIP_BOTH]) + host_offer(0, 3) +
                                             poll() + req(SERVER0, 1, STR_TEXT, READ_PIPE) +
                                             end(True))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: gen_e2e_seeds.py CORPUS_DIR')
    d = os.path.join(sys.argv[1], 'e2e')
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
