#!/usr/bin/env python3
"""The per-VM policy, enforced end to end: crosswayd --listen with a policy
file (--config) between a real compositor and iso_client, a small Wayland
client that misbehaves on request. Each test also runs the same request
where it must succeed (directly, or with the default policy), so a test that
passes proves the policy made the difference."""

import json
import os
import re
import subprocess

from harness import Crossway, Sway, Weston, check, env_path, need, run, wait_until


def client(env_, *args, timeout=20):
    return subprocess.run([env_path("ISO_CLIENT"), *args], env=env_, capture_output=True,
                          text=True, timeout=timeout)


def globals_of(env_):
    r = client(env_, "list")
    check(r.returncode == 0, f"iso_client list failed: {r.stderr}")
    out = {}
    for line in r.stdout.splitlines():
        name, iface, version = line.split()
        out[iface] = (int(name), int(version))
    return out


def write_config(env, name, text):
    path = env.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def ended_with(cw, r, needle):
    """The client saw a protocol error and crosswayd logged @needle."""
    check(r.returncode == 3, f"iso_client exit {r.returncode}, expected a protocol error\n"
          f"stdout: {r.stdout}\nstderr: {r.stderr}")
    wait_until(lambda: needle in cw.read_log(), 5, f"'{needle}' in crosswayd's log")
    check(needle in r.stderr, f"the guest was not told why ({needle!r}):\n{r.stderr}")


def test_privileged_globals_hidden_and_their_names_refused(env):
    host = Weston(env, seat=False)  # --debug: weston_screenshooter is offered
    direct = globals_of(host.client_env())
    cw = Crossway(env, host, vm="vm-hidden")
    guest = globals_of(cw.client_env())
    check("wl_compositor" in guest, f"the guest sees no wl_compositor: {sorted(guest)}")
    # weston_screenshooter: a compositor-private protocol crossway has no
    # tables for; zxdg_output_manager_v1: one it parses but the default
    # policy does not allow.
    for iface, needle in (("weston_screenshooter", "interface is not known to crossway"),
                          ("zxdg_output_manager_v1", "was not advertised")):
        check(iface in direct, f"weston offers no {iface} (test assumption; --debug?)")
        check(iface not in guest, f"{iface} is shown to the guest")
        name, version = direct[iface]
        # The name works directly: binding it is a normal request there.
        r = client(host.client_env(), "bind", str(name), iface, "1")
        check(r.returncode == 0, f"direct bind of {iface} failed: {r.stderr}")
        r = client(cw.client_env(), "bind", str(name), iface, "1")
        ended_with(cw, r, needle)
        if needle == "was not advertised":
            ended_with(cw, r, f"global {name} ({iface}) was not advertised")


def test_bind_above_the_version_cap(env):
    host = Weston(env, seat=False)
    direct = globals_of(host.client_env())
    check(direct["xdg_wm_base"][1] >= 2, "weston's xdg_wm_base is below v2 (test assumption)")
    conf = write_config(env, "cap.conf",
                        "[default]\nallow = wl_compositor wl_shm xdg_wm_base:1\n")
    cw = Crossway(env, host, vm="vm-cap", args=["--config", conf])
    guest = globals_of(cw.client_env())
    check(sorted(guest) == ["wl_compositor", "wl_shm", "xdg_wm_base"],
          f"the allow list was not applied: {sorted(guest)}")
    check(guest["xdg_wm_base"][1] == 1, f"xdg_wm_base shown at v{guest['xdg_wm_base'][1]}")
    r = client(cw.client_env(), "bind-above", "xdg_wm_base")
    ended_with(cw, r, "xdg_wm_base version 2 is above the advertised 1")


def sway_views(sway):
    tree = json.loads(sway.swaymsg("-t", "get_tree"))
    views, stack = [], [tree]
    while stack:
        node = stack.pop()
        if node.get("pid") and node.get("type") in ("con", "floating_con"):
            views.append(node)
        stack += node.get("nodes", []) + node.get("floating_nodes", [])
    return views


def test_titles_prefixed_and_sanitised_app_ids_prefixed(env):
    need("swaymsg")
    host = Sway(env)
    cw = Crossway(env, host, vm="vm-title")
    title = "[host] root\x1b[31m shell\u202egnp.exe\u2066x\x07"
    app_id = "../../org.host Terminal"
    p = subprocess.Popen([env_path("ISO_CLIENT"), "windows", "1", title, app_id, "30"],
                         env=cw.client_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: sway_views(host), 10, "the window on sway")
        view = sway_views(host)[0]
    finally:
        p.kill()
        p.wait()
    shown, shown_app = view.get("name") or "", view.get("app_id") or ""
    check(shown.startswith("[vm-title] "), f"title not prefixed: {shown!r}")
    check(shown == "[vm-title] [host] root[31m shellgnp.exex",
          f"title not sanitised as expected: {shown!r}")
    check(not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown),
          f"control or bidi characters survived: {shown!r}")
    check(shown_app.startswith("crossway.vm-title."), f"app_id not in the VM's namespace: "
          f"{shown_app!r}")
    check(re.fullmatch(r"[A-Za-z0-9._-]+", shown_app), f"app_id not sanitised: {shown_app!r}")
    check(" " not in shown_app and "/" not in shown_app, f"app_id kept / or space: {shown_app!r}")


def test_lowered_toplevel_limit(env):
    host = Weston(env, seat=False)
    conf = write_config(env, "toplevels.conf", "[default]\nmax-toplevels = 1\n")
    cw = Crossway(env, host, vm="vm-one", args=["--config", conf])
    r = client(cw.client_env(), "windows", "1", "one", "one", "1")
    check(r.returncode == 0, f"one toplevel under a limit of one failed: {r.stderr}")
    r = client(cw.client_env(), "windows", "2", "two", "two", "1")
    ended_with(cw, r, "toplevel limit (1) reached")


def test_lowered_message_size_limit(env):
    host = Weston(env, seat=False)
    long_title = "t" * 400
    plain = Crossway(env, host, vm="vm-plain")
    r = client(plain.client_env(), "windows", "1", long_title, "app", "1")
    check(r.returncode == 0, f"a 400-byte title failed under the default limit: {r.stderr}")
    conf = write_config(env, "small.conf", "[default]\nmax-message-bytes = 256\n")
    cw = Crossway(env, host, vm="vm-small", args=["--config", conf], name="crossway-small")
    r = client(cw.client_env(), "windows", "1", long_title, "app", "1")
    ended_with(cw, r, "> limit 256")


def test_limits_can_only_be_lowered(env):
    for text in ("[default]\nmax-toplevels = 100000\n", "[vm x]\nmax-message-bytes = 8192\n"):
        conf = write_config(env, "raise.conf", text)
        r = subprocess.run([env_path("CROSSWAYD"), "--config", conf, "--print-policy"],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode != 0, f"crosswayd accepted a raised limit: {text!r}")
        check("limits can only be lowered" in r.stderr, f"unclear error: {r.stderr}")


if __name__ == "__main__":
    run(globals())
