#!/usr/bin/env python3
"""Writes the seed corpora of the stateful targets (fuzz_policy.c and
fuzz_compositor.c; their input format is described at the top of
fuzz_policy.c) into CORPUS_DIR/policy and CORPUS_DIR/compositor.

    tests/fuzz/gen_stateful_seeds.py tests/fuzz/corpus

Object selectors are the ids a libwayland client and crosswayd allocate in
these sessions; a stale guess still picks some live object, so seeds stay
usable when the protocol tables change. Check what a seed does with
CROSSWAY_FUZZ_VERBOSE=1 BUILDDIR/tests/fuzz/policy-replay FILE.
"""
import os
import sys

# policy-mode actions
def req(sender, op, *args, send=True):
    return bytes([0x80 if send else 0x00, sender, op, *args])

def evt(sender, op, *args):
    return bytes([0x03, sender, op, *args])

def s(text):  # a raw string argument
    b = text.encode()
    return bytes([len(b)]) + b

FLUSH = bytes([0x05, 0x00])
DELETES = bytes([0x07])
CFG = 0x08  # server-side decorations, guest-to-host clipboard

# interesting[] indices (fuzz_policy.c)
I_256, I_4096, I_65536, I_INT_MAX, I_INT_MIN = 0x90, 0x95, 0x9e, 0xa0, 0xa1
STR_TEXT, STR_UTF8, STR_BIDI, STR_CTRL, STR_BADUTF, STR_KONSOLE, STR_DOTS = (
    0xc0, 0xc1, 0xc7, 0xc8, 0xc9, 0xca, 0xcb)
MEMFD_4096, MEMFD_64K_SEALED, PIPE_W, SOCKET = 2, 4 | 8, 7, 16

# global_names[] indices
G = dict(wl_compositor=0, wl_shm=1, wl_seat=2, xdg_wm_base=3, ddm=4, deco=5, output=6,
         dmabuf=7, layer_shell=11, screencopy=12, primary=10)

def registry():
    # guest ids: registry 2, compositor 3, shm 4, wm 5, ddm 6, seat 7
    out = req(1, 1)
    for name, g in [(1, 'wl_compositor'), (2, 'wl_shm'), (3, 'layer_shell'), (4, 'xdg_wm_base'),
                    (5, 'ddm'), (6, 'wl_seat'), (7, 'deco'), (8, 'screencopy'), (9, 'primary'),
                    (10, 'dmabuf')]:
        out += evt(2, 0, name, G[g], 0)
    for name in (1, 2, 4, 5, 6):
        out += req(2, 0, name, 0)
    return out

def window():
    # surface 8, pool 9, buffer 10, xdg_surface 11, toplevel 12
    out = req(3, 0, send=False)
    out += req(4, 0, MEMFD_64K_SEALED, I_65536, send=False)
    out += req(9, 0, 0, 64, 64, I_256, 0, send=False)
    out += req(5, 2, 8, send=False) + req(11, 1, send=False)
    out += req(12, 2, *s("Terminal"), send=False) + req(12, 3, *s("org.example.term"), send=False)
    out += req(8, 6)
    out += evt(12, 0, 64, 64, 0) + evt(11, 0, 7)
    out += req(11, 4, 7, send=False) + req(8, 1, 10, 0, 0, send=False)
    out += req(8, 9, 0, 0, I_INT_MAX, I_INT_MAX, send=False) + req(8, 6)
    out += evt(10, 0)
    return out

def clipboard():
    # data device 8 (on seat 7), source 9
    out = req(6, 1, 7, send=False) + req(6, 0, send=False)
    out += req(9, 0, STR_TEXT, send=False) + req(8, 1, 9, 1)
    out += evt(8, 0) + evt(0x80, 0, STR_TEXT) + evt(0x80, 0, STR_UTF8) + evt(8, 5, 0x80)
    out += req(0x80, 1, STR_TEXT, PIPE_W)
    out += evt(9, 1, STR_TEXT, PIPE_W) + evt(9, 1, 0xcd, PIPE_W)
    return out

def policy_seeds():
    seeds = {}
    seeds['ok-registry'] = bytes([CFG]) + registry()
    seeds['ok-shm-window'] = bytes([CFG]) + registry() + window()
    seeds['ok-clipboard'] = bytes([CFG]) + registry() + clipboard()
    seeds['ok-clipboard-both'] = bytes([CFG | 3]) + registry() + clipboard()
    seeds['ok-keyboard'] = bytes([CFG]) + registry() + req(7, 1) + evt(13, 0, 1, MEMFD_4096, I_4096)
    seeds['ok-session-start'] = bytes([CFG | 0x80, 0x03, 12, 0, 64, 64, 0])
    seeds['ok-lazy-delete'] = bytes([CFG | 0x40]) + registry() + req(1, 0) + evt(8, 0, 1) + DELETES
    seeds['H-28-bind-hidden'] = bytes([CFG]) + registry() + req(2, 0, 3, 0)
    seeds['H-30-bind-version-too-high'] = bytes([CFG]) + registry() + req(2, 0, 1, 99)
    seeds['H-33-shm-pool-too-small'] = (bytes([CFG]) + registry() +
                                        req(4, 0, MEMFD_4096, I_65536))
    seeds['H-34-shm-buffer-outside-pool'] = (bytes([CFG]) + registry() +
                                             req(4, 0, MEMFD_64K_SEALED, I_65536, send=False) +
                                             req(8, 0, 0, 0xf0, 0xff, 0xff, 0x00, 0x40, 64, 64,
                                                 I_256, 0))
    seeds['H-36-shm-unsealed'] = (bytes([CFG | 0x10]) + registry() + req(4, 0, 4, I_65536))
    seeds['H-41-damage-extreme'] = (bytes([CFG]) + registry() + req(3, 0, send=False) +
                                    req(8, 2, I_INT_MIN, I_INT_MIN, I_INT_MAX, I_INT_MAX) +
                                    b''.join(req(8, 9, i, i, 8, 8, send=False) for i in range(8)) +
                                    req(8, 6))
    seeds['H-48-title-spoof'] = (bytes([CFG]) + registry() + req(3, 0, send=False) +
                                 req(5, 2, 8, send=False) + req(9, 1, send=False) +
                                 req(10, 2, STR_BIDI, send=False) +
                                 req(10, 2, STR_CTRL, send=False) +
                                 req(10, 2, STR_BADUTF, send=False) +
                                 req(10, 2, 0xc6, send=False) + req(10, 2, 200) + b'A' * 200)
    seeds['H-49-appid-spoof'] = (bytes([CFG]) + registry() + req(3, 0, send=False) +
                                 req(5, 2, 8, send=False) + req(9, 1, send=False) +
                                 req(10, 3, STR_KONSOLE, send=False) +
                                 req(10, 3, STR_DOTS, send=False) + req(10, 3, 0xcc))
    seeds['H-21-fd-missing'] = bytes([CFG]) + registry() + bytes([0x02, 4, 4, 0, 0, 0, 0, 0,
                                                                  16, 0, 8, 0, 0, 0, 0, 0x10,
                                                                  0, 0]) + FLUSH
    seeds['H-22-fd-surplus'] = bytes([CFG]) + registry() + bytes([0x04, 2]) + FLUSH + FLUSH
    seeds['H-56-zombie-fd-event'] = (bytes([CFG]) + registry() + req(7, 1) + req(8, 0) +
                                     evt(8, 0, 1, MEMFD_4096, I_4096))
    return seeds

# compositor-mode actions (after the fixed session; ids in fuzz_policy.c's
# session(): registry 2, seat 5, surface 10, xdg_surface 11, toplevel 12,
# keyboard 15, pointer 16, data device 17, source 18, dmabuf feedback 19)
def cev(sender, op, *args):
    return bytes([0x00, sender, op, *args])

def craw(words, fds=()):
    b = b''.join(w.to_bytes(4, 'little') for w in words)
    return bytes([0x01, len(b) // 4]) + b + bytes([len(fds), *fds])

def compositor_seeds():
    seeds = {}
    c = bytes([CFG])
    seeds['ok-configure'] = c + cev(12, 0, 64, 64, 4, 1, 0, 0, 0) + cev(11, 0, 7)
    seeds['ok-keymap'] = c + cev(15, 0, 1, MEMFD_4096, I_4096) + cev(15, 1, 1, 10, 0) + \
        cev(15, 3, 2, 3, 30, 1) + cev(15, 2, 4, 10)
    seeds['ok-pointer'] = c + cev(16, 0, 1, 10, 0xf0, 0, 1, 0, 0, 0xf0, 0, 2, 0, 0) + \
        cev(16, 3, 5, 0x110 & 0xff, 1)
    seeds['ok-offer-selection'] = c + cev(17, 0) + cev(0x80, 0, STR_TEXT) + \
        cev(0x80, 0, STR_UTF8) + cev(17, 5, 0x80)
    seeds['ok-offer-selection-both'] = bytes([CFG | 3]) + seeds['ok-offer-selection'][1:] + \
        bytes([0x03, 0x80, 1, STR_TEXT, PIPE_W])
    seeds['ok-source-send'] = c + cev(18, 1, STR_TEXT, PIPE_W) + cev(18, 2)
    seeds['ok-registry-churn'] = c + cev(2, 0, 20, G['screencopy'], 0) + cev(2, 0, 21, 9, 0) + \
        cev(2, 1, 1) + cev(2, 1, 21) + cev(2, 0, 22, G['output'], 0)
    seeds['ok-format-table'] = bytes([CFG | 0x20]) + cev(19, 1, MEMFD_4096, I_256) + \
        cev(19, 5, 8, 0, 0, 1, 0, 2, 0, 3, 0) + cev(19, 0)
    seeds['H-56-zombie-keymap'] = c + bytes([0x03, 15, 3]) + \
        cev(15, 0, 1, MEMFD_4096, I_4096)
    seeds['H-10-socket-in-keymap'] = c + craw([15, 16 << 16 | 0, 1, 4096], [SOCKET])
    seeds['bad-delete-live'] = c + cev(1, 1, 12) + cev(12, 0, 1, 1, 0)
    seeds['bad-event-unknown-object'] = c + craw([300, 8 << 16])
    seeds['bad-error-event'] = c + cev(1, 0, 10, 2, STR_CTRL)
    return seeds

def main():
    root = sys.argv[1]
    for target, seeds in (('policy', policy_seeds()), ('compositor', compositor_seeds())):
        os.makedirs(os.path.join(root, target), exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(root, target, name), 'wb') as f:
                f.write(data)

if __name__ == '__main__':
    main()
