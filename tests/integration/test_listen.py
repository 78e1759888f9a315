#!/usr/bin/env python3
"""End-to-end tests of the Wayland-socket front end (crosswayd --listen):
real clients connect straight to crosswayd, which serves them against a real
compositor with the same validation, policy and sandbox as the ring path."""

import os
import subprocess
import time

from harness import (PROCS, Crossway, Skip, Sway, Weston, app_pixels, check, compare_app,
                     copy_then_paste, need, run, sanitized, wait_until)

# Globals weston 10 offers that a guest must never see.
WESTON_PRIVATE = ["weston_screenshooter", "weston_desktop_shell", "weston_debug_v1",
                  "zwp_input_panel_v1", "zwp_text_input_manager_v1", "zwp_input_timestamps_manager_v1",
                  "zxdg_output_manager_v1", "zwp_linux_explicit_synchronization_v1"]


def globals_seen(env_):
    out = subprocess.run(["wayland-info"], env=env_, capture_output=True, text=True,
                         timeout=10).stdout
    seen = {}
    for line in out.splitlines():
        if "interface: '" in line:
            name = line.split("'")[1]
            version = int(line.split("version:")[1].split(",")[0])
            seen[name] = version
    return seen


def test_wayland_info_sees_only_allowed_globals(env):
    host = Weston(env)
    cw = Crossway(env, host, vm="vm-info")
    direct = globals_seen(host.client_env())
    guest = globals_seen(cw.client_env())
    check("wl_compositor" in guest and "xdg_wm_base" in guest and "wl_shm" in guest,
          f"basic globals missing: {sorted(guest)}")
    for name in WESTON_PRIVATE:
        check(name in direct, f"weston should offer {name} (test assumption)")
        check(name not in guest, f"{name} leaked to the guest")
    for name, version in guest.items():
        check(version <= direct[name], f"{name} v{version} above the compositor's v{direct[name]}")
    check(set(guest) <= set(direct), "the guest saw globals the compositor does not have")


def test_weston_simple_shm_pixels(env):
    compare_app(env, ["weston-simple-shm"], Crossway)


def test_weston_flower_pixels(env):
    # Each flower has random petals and colours: check that one is drawn.
    need("weston-flower")
    _, changed = app_pixels(env, ["weston-flower"], 1.0, Crossway, "through", static=True)
    check(changed > 3000, f"weston-flower drew {changed} pixels through crossway")


def test_weston_terminal_pixels(env):
    compare_app(env, ["weston-terminal"], Crossway, settle=1.0, static=True)


def test_weston_simple_damage_pixels(env):
    compare_app(env, ["weston-simple-damage"], Crossway)


def test_titles_and_app_ids_are_labelled(env):
    need("swaymsg", "weston-flower")
    host = Sway(env)
    cw = Crossway(env, host, vm="vm-label")
    PROCS.start(["weston-flower"], env=cw.client_env(), log=env.path("flower.log"))
    wait_until(lambda: "[vm-label] Flower" in host.swaymsg("-t", "get_tree"), 10,
               "a window titled [vm-label] Flower")
    tree = host.swaymsg("-t", "get_tree")
    check('"app_id": "crossway.vm-label.org.freedesktop.weston.flower"' in tree
          or "crossway.vm-label." in tree, "the app_id is not in the VM's namespace")


def test_foot_types_through_sway(env):
    need("foot", "wtype")
    host = Sway(env)
    cw = Crossway(env, host, vm="vm-foot")
    out = env.path("typed.txt")
    PROCS.start(["foot", "sh", "-c", f"stty -echo; head -n 1 > {out}"], env=cw.client_env(),
                log=env.path("foot.log"))
    wait_until(lambda: "[vm-foot]" in host.swaymsg("-t", "get_tree"), 10, "foot's window")
    time.sleep(0.5)
    # wtype drops the first key of a fresh keyboard (testenv.md): lead with a modifier.
    subprocess.run(["wtype", "-s", "100", "-k", "Shift_L", "crossway-typed-123", "-k", "Return"],
                   env=host.client_env(), timeout=20, check=True)
    wait_until(lambda: os.path.exists(out) and open(out).read().strip(), 10, "typed text")
    check(open(out).read().strip() == "crossway-typed-123",
          f"typed text arrived as {open(out).read()!r}")
    shot = host.screenshot()
    check(shot.count(lambda p: p != shot.pixel(0, 599)) > 1000, "nothing on screen")


def test_gtk3_renders_on_sway(env):
    need("gtk3-widget-factory")
    host = Sway(env)
    cw = Crossway(env, host, vm="vm-gtk")
    PROCS.start(["gtk3-widget-factory"], env=cw.client_env(GDK_BACKEND="wayland", NO_AT_BRIDGE=1),
                log=env.path("gtk.log"))
    wait_until(lambda: "[vm-gtk]" in host.swaymsg("-t", "get_tree"), 20, "the GTK window")
    time.sleep(2)
    shot = host.screenshot()
    light = shot.count(lambda p: p[0] > 200 and p[1] > 200 and p[2] > 200)
    check(light > 20000, f"the GTK window is not drawn ({light} light pixels)")
    ended = [line for line in cw.read_log().splitlines()
             if "Connection ended" in line and "the guest closed the connection" not in line]
    check(not ended, "crosswayd ended a connection:\n" + cw.read_log())


def test_clipboard_guest_to_host(env):
    host = Weston(env)
    if not host.seat:
        raise Skip("weston has no test seat (FAKE_SEAT not built)")
    cw = Crossway(env, host, vm="vm-clip")
    data, got = copy_then_paste(env, cw.client_env(), host.client_env())
    check(got == data, f"pasted {len(got)} bytes, expected {len(data)} identical")


def test_clipboard_host_to_guest_needs_policy(env):
    host = Weston(env)
    if not host.seat:
        raise Skip("weston has no test seat (FAKE_SEAT not built)")
    guests = {}

    def paste_from_both_guests():
        # The default policy is guest-to-host: that guest sees no selection.
        guests["default"] = Crossway(env, host, vm="vm-clip-default")
        conf = env.path("both.conf")
        with open(conf, "w") as f:
            f.write("[default]\nclipboard = both\n")
        guests["both"] = Crossway(env, host, vm="vm-clip-both", args=["--config", conf],
                                  name="crossway-both")
        got = subprocess.run(["wl-paste", "--no-newline", "--type", "application/octet-stream"],
                             env=guests["default"].client_env(), capture_output=True, timeout=20)
        check(got.stdout == b"", "the guest read the host clipboard under the default policy")
        return guests["both"].client_env()

    data, got = copy_then_paste(env, host.client_env(), None, before_paste=paste_from_both_guests)
    check(got == data, f"pasted {len(got)} bytes, expected {len(data)} identical")


def test_each_client_gets_its_own_sandboxed_process(env):
    if sanitized():
        raise Skip("sanitizer build: children run without the sandbox (LeakSanitizer)")
    host = Weston(env)
    cw = Crossway(env, host, vm="vm-procs")
    PROCS.start(["weston-flower"], env=cw.client_env(), log=env.path("a.log"))
    PROCS.start(["weston-simple-shm"], env=cw.client_env(), log=env.path("b.log"))

    def children():
        pids = subprocess.run(["pgrep", "-P", str(cw.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        return pids
    wait_until(lambda: len(children()) == 2, 10, "two crosswayd children")
    for pid in children():
        # Each child is the parent of its PID namespace's init (the sandbox).
        inner = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
        check(len(inner) == 1, f"child {pid} has no sandboxed process")
        status = open(f"/proc/{inner[0]}/status").read()
        check("NoNewPrivs:\t1" in status, "no_new_privs is not set")
        check("Seccomp:\t2" in status, "seccomp filter mode is not on")
        check("CapEff:\t0000000000000000" in status, "capabilities remain")
        check(os.readlink(f"/proc/{inner[0]}/ns/net") != os.readlink("/proc/self/ns/net"),
              "the context shares the host's network namespace")


def test_sanitizer_builds_run_context_children_unconfined(env):
    # LeakSanitizer cannot work in the sandbox, so a sanitizer build runs the
    # children without it (the plain build runs this suite sandboxed).
    if not sanitized():
        raise Skip("not a sanitizer build")
    host = Weston(env)
    cw = Crossway(env, host, vm="vm-san")
    PROCS.start(["weston-flower"], env=cw.client_env(), log=env.path("a.log"))
    wait_until(lambda: "Sanitizer build" in cw.read_log(), 10, "the sanitizer notice")


if __name__ == "__main__":
    run(globals())
