#!/usr/bin/env python3
"""End-to-end tests through the simulated VM: real apps connect to
crossway-vmsim's socket (the inside of the VM), vmsim's guest proxy turns
their Wayland traffic into cross-domain ring commands, its backend half
drives one crosswayd per app over the backend link, and crosswayd serves
them on a real compositor (weston or sway, headless)."""

import os
import signal
import subprocess
import time

from harness import (PROCS, Skip, Sway, VmSim, Weston, app_pixels, changed_pixels, check,
                     compare_app, copy_then_paste, empty_desktop, env_path, need, run,
                     wait_until)
from test_listen import WESTON_PRIVATE, globals_seen


def test_weston_simple_shm_through_the_vm(env):
    compare_app(env, ["weston-simple-shm"], VmSim)


def test_weston_simple_damage_through_the_vm(env):
    compare_app(env, ["weston-simple-damage"], VmSim)


def test_weston_flower_through_the_vm(env):
    # Each flower has random petals and colours: check that one is drawn.
    need("weston-flower")
    _, changed = app_pixels(env, ["weston-flower"], 1.0, VmSim, "vm", static=True)
    print(f"# weston-flower through the VM: {changed} pixels")
    check(changed > 3000, f"weston-flower drew {changed} pixels through the VM")


def test_weston_terminal_through_the_vm(env):
    compare_app(env, ["weston-terminal"], VmSim, settle=1.0, static=True)


def test_wayland_info_in_the_vm_sees_only_allowed_globals(env):
    host = Weston(env)
    vm = VmSim(env, host, vm="vm-info")
    direct = globals_seen(host.client_env())
    guest = globals_seen(vm.client_env())
    check({"wl_compositor", "wl_shm", "xdg_wm_base", "wl_seat"} <= set(guest),
          f"basic globals missing: {sorted(guest)}")
    for name in WESTON_PRIVATE:
        check(name in direct, f"weston should offer {name} (test assumption)")
        check(name not in guest, f"{name} leaked into the VM")
    for name, version in guest.items():
        check(version <= direct[name], f"{name} v{version} above the compositor's v{direct[name]}")


def test_foot_gets_a_keymap_and_typed_text_on_sway(env):
    need("foot", "wtype", "swaymsg")
    host = Sway(env)
    vm = VmSim(env, host, vm="vm-foot")
    out = env.path("typed.txt")
    # foot's scrolling pools reserve 512 MiB of address space; a guest
    # proxy shadows whole pools, so use plain pools (as in a VM with little
    # host-visible memory).
    PROCS.start(["foot", "-o", "tweak.max-shm-pool-size-mb=0", "sh", "-c",
                 f"stty -echo; head -n 1 > {out}"], env=vm.client_env(), log=env.path("foot.log"))
    wait_until(lambda: "[vm-foot]" in host.swaymsg("-t", "get_tree"), 15, "foot's window")
    time.sleep(0.5)
    # wtype sends its own keymap: the VM gets a fresh keymap blob each time.
    subprocess.run(["wtype", "-s", "100", "-k", "Shift_L", "typed-in-the-vm-42", "-k", "Return"],
                   env=host.client_env(), timeout=20, check=True)
    wait_until(lambda: os.path.exists(out) and open(out).read().strip(), 10, "typed text")
    check(open(out).read().strip() == "typed-in-the-vm-42",
          f"typed text arrived as {open(out).read()!r}")
    shot = host.screenshot()
    check(shot.count(lambda p: p != shot.pixel(0, 599)) > 1000, "nothing on screen")


def test_gtk3_renders_through_the_vm_on_sway(env):
    need("gtk3-widget-factory", "swaymsg")
    host = Sway(env)
    vm = VmSim(env, host, vm="vm-gtk")
    PROCS.start(["gtk3-widget-factory"], env=vm.client_env(GDK_BACKEND="wayland", NO_AT_BRIDGE=1),
                log=env.path("gtk.log"))
    wait_until(lambda: "[vm-gtk]" in host.swaymsg("-t", "get_tree"), 30, "the GTK window")
    time.sleep(2)
    shot = host.screenshot()
    light = shot.count(lambda p: p[0] > 200 and p[1] > 200 and p[2] > 200)
    check(light > 20000, f"the GTK window is not drawn ({light} light pixels)")


def test_gtk4_renders_through_the_vm_on_weston(env):
    need("gtk4-widget-factory")
    host = Weston(env)
    bg = empty_desktop(host)
    vm = VmSim(env, host, vm="vm-gtk4")
    # No GPU: GTK4's cairo renderer draws into wl_shm buffers.
    PROCS.start(["gtk4-widget-factory"],
                env=vm.client_env(GDK_BACKEND="wayland", GSK_RENDERER="cairo", NO_AT_BRIDGE=1),
                log=env.path("gtk4.log"))
    wait_until(lambda: changed_pixels(bg, host.screenshot()) > 100000, 30, "the GTK4 window")
    shot = host.screenshot()
    light = shot.count(lambda p: p[0] > 200 and p[1] > 200 and p[2] > 200)
    print(f"# gtk4-widget-factory: {changed_pixels(bg, shot)} pixels changed, {light} light")
    check(light > 100000, f"the GTK4 window is not drawn ({light} light pixels)")


def test_clipboard_from_the_vm_to_the_host(env):
    host = Weston(env)
    if not host.seat:
        raise Skip("weston has no test seat (FAKE_SEAT not built)")
    vm = VmSim(env, host, vm="vm-copy")
    data, got = copy_then_paste(env, vm.client_env(), host.client_env())
    check(got == data, f"pasted {len(got)} bytes, expected {len(data)} identical")


def test_clipboard_from_the_host_into_the_vm(env):
    host = Weston(env)
    if not host.seat:
        raise Skip("weston has no test seat (FAKE_SEAT not built)")
    conf = env.path("both.conf")
    with open(conf, "w") as f:
        f.write("[default]\nclipboard = both\n")
    # The VM starts after the host's selection exists.
    data, got = copy_then_paste(
        env, host.client_env(), None,
        before_paste=lambda: VmSim(env, host, vm="vm-paste",
                                   crosswayd_args=["--config", conf]).client_env())
    check(got == data, f"pasted {len(got)} bytes, expected {len(data)} identical")


def test_two_vms_draw_and_one_dying_leaves_the_other(env):
    need("weston-simple-shm")
    host = Weston(env)
    bg = empty_desktop(host)
    vm_a = VmSim(env, host, vm="vm-a")
    vm_b = VmSim(env, host, vm="vm-b")
    PROCS.start(["weston-simple-shm"], env=vm_a.client_env(), log=env.path("a.log"))
    PROCS.start(["weston-simple-shm"], env=vm_b.client_env(), log=env.path("b.log"))
    wait_until(lambda: vm_a.crosswayd_pids() and vm_b.crosswayd_pids(), 10,
               "a crosswayd for each VM")
    time.sleep(1.0)
    both = host.screenshot()
    both_changed = changed_pixels(bg, both)
    a_pids = vm_a.crosswayd_pids()
    for pid in a_pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)
    one = host.screenshot()
    time.sleep(0.5)
    later = host.screenshot()
    one_changed = changed_pixels(bg, one)
    print(f"# both VMs: {both_changed} pixels changed; after killing vm-a's crosswayd: "
          f"{one_changed}; vm-b still animating: {changed_pixels(one, later)} pixels")
    check(one_changed < both_changed, "vm-a's window did not go away with its crosswayd")
    check(one_changed > 1000, "vm-b's window went away too")
    check(changed_pixels(one, later) > 100, "vm-b stopped drawing")
    check(vm_b.crosswayd_pids(), "vm-b's crosswayd died")
    for vm, other in ((vm_a, "vm-b"), (vm_b, "vm-a")):
        log = vm.read_log()
        check(f"of VM {vm.vm}" in log, f"{vm.vm}'s crosswayd never served it:\n{log}")
        check(other not in log, f"{vm.vm}'s crosswayd served {other}:\n{log}")


def test_compatibility_matrix_init_sizes_and_identifier_layouts(env):
    need("weston-simple-shm")
    host = Weston(env)
    bg = empty_desktop(host)
    results = []
    for init in (16, 20, 24, 36):
        for ids in (4, 28):
            vm = VmSim(env, host, vm=f"vm-i{init}-n{ids}",
                       args=["--init-size", str(init), "--identifiers", str(ids)])
            app = PROCS.start(["weston-simple-shm"], env=vm.client_env(),
                              log=env.path(f"shm-{init}-{ids}.log"))
            time.sleep(1.0)
            shot = host.screenshot()
            changed = changed_pixels(bg, shot)
            PROCS.stop(app)
            # The app going away is a clean end: the guest releases its
            # rings, the VMM sends SHUTDOWN, crosswayd exits 0.
            wait_until(lambda: "crosswayd exit status" in vm.read_log(), 10,
                       "the context to end")
            check("crosswayd exit status 0" in vm.read_log(),
                  f"unclean end of the context:\n{vm.read_log()}")
            PROCS.stop(vm.proc)
            # The window must be gone before the next combination draws.
            wait_until(lambda: changed_pixels(bg, host.screenshot()) == 0, 5,
                       "the window to close")
            results.append((init, ids, changed))
    print("# INIT bytes x identifier slots: pixels drawn by weston-simple-shm")
    for init, ids, changed in results:
        print(f"#   {init:2d} x {ids:2d}: {changed}")
    # simple-shm's window is 250x250 plus a frame.
    bad = [(i, n) for i, n, c in results if c < 50000]
    check(not bad, f"weston-simple-shm did not draw with (INIT size, identifiers) {bad}")


def pattern_band(height, frame):
    """tests/e2e/pattern.h's pattern_band: the rows frame @frame repaints."""
    band = max(height // 16, 1)
    y0 = frame * 37 * band // 8 % height
    return range(y0, min(y0 + band, height))


def pattern_rgb(x, y, height, frame):
    """tests/e2e/pattern.h's pattern_pixel, as (r, g, b)."""
    if y in pattern_band(height, frame):
        return (frame * 53 & 0xff, frame * 101 & 0xff, 0x40)
    return (x & 0xff, y & 0xff, (x ^ y) >> 4 & 0xff)


def find_pattern(shot, w, h, frame):
    """Where weston put the pattern window: the offset at which a handful of
    pattern pixels (outside any band) all match, or None."""
    probes = [(x, y) for x, y in ((1, 1), (w - 2, 1), (w // 2, 3), (5, h - 2), (w - 3, h - 3),
                                  (w // 3, h - 1)) if y not in pattern_band(h, frame)]
    for oy in range(0, shot.height - h + 1):
        for ox in range(0, shot.width - w + 1):
            if all(shot.pixel(ox + x, oy + y)[:3] == pattern_rgb(x, y, h, frame)
                   for x, y in probes):
                return ox, oy
    return None


def test_large_shm_windows_reach_weston_exactly_without_a_copy(env):
    """1920x1080 and 3840x2160 XRGB windows drawn in the VM (full damage, then
    a moving band) appear on weston exactly: every 7th row and 11th column,
    and every pixel of every 3rd row of the last frame's band. crosswayd
    copies no pixel: the guest's blob fd is the compositor's buffer."""
    need("weston-screenshooter")
    client = env_path("PATTERN_CLIENT")
    for w, h, frames in ((1920, 1080, 6), (3840, 2160, 4)):
        host = Weston(env, name=f"weston-{w}", width=w + 96, height=h + 96, seat=False)
        vm = VmSim(env, host, vm=f"vm-{w}")
        log = env.path(f"pattern-{w}.log")
        app = PROCS.start([client, str(w), str(h), str(frames), "30"], env=vm.client_env(),
                          log=log)
        wait_until(lambda: "drawn" in open(log).read(), 60, f"the {w}x{h} pattern")
        last = frames - 1
        at = None
        for _ in range(20):  # weston's next repaints
            time.sleep(0.25)
            shot = host.screenshot()
            at = find_pattern(shot, w, h, last)
            if at:
                break
        check(at is not None, f"no {w}x{h} pattern window on the {shot.width}x{shot.height} "
              "screenshot")
        ox, oy = at
        points = [(x, y) for y in range(0, h, 7) for x in range(0, w, 11)]
        points += [(x, y) for y in pattern_band(h, last)[::3] for x in range(w)]
        bad = [(x, y) for x, y in points
               if shot.pixel(ox + x, oy + y)[:3] != pattern_rgb(x, y, h, last)]
        print(f"# {w}x{h} at {ox},{oy}: {len(points)} pixels compared, {len(bad)} differ")
        if bad:
            x, y = bad[0]
            check(False, f"{w}x{h}: pixel {x},{y} is {shot.pixel(ox + x, oy + y)[:3]}, "
                  f"expected {pattern_rgb(x, y, h, last)}")
        PROCS.stop(app)
        wait_until(lambda: "pixel bytes copied" in vm.read_log(), 10, "the context to end")
        copied = [line for line in vm.read_log().splitlines() if "pixel bytes copied" in line]
        print(f"# {w}x{h}: {copied[-1].strip()}")
        check(all("(0 pixel bytes copied)" in line for line in copied),
              f"crosswayd copied pixels:\n{vm.read_log()}")
        PROCS.stop(vm.proc)
        PROCS.stop(host.proc)

if __name__ == "__main__":
    run(globals())
