#!/usr/bin/env python3
"""Generate crossway's protocol tables from Wayland protocol XML.

Reads the XML files named on the command line (wayland.xml and extensions,
taken from the installed wayland-scanner and wayland-protocols data dirs) and
writes a C source and header that fill in the types of protocol/tables.h.

The output depends only on the XML and the order of the files: no dates, no
paths, no hash ordering. With --check DIR the generated text is compared with
DIR/<name of each output> instead of written, and the exit status says whether
they match (used by the golden-output test).

The generated C source includes the header by the base name given to
--output-h, so several generated table sets can live in one build directory.

--drop-arg exists only for tests/protocol: it leaves one argument out of the
tables, so the test that compares them with wayland-scanner can show that it
notices. Nothing else may use it.
"""

import argparse
import os
import sys
import xml.etree.ElementTree as ET

ARG_TYPES = {
    "int": "PROTO_ARG_INT",
    "uint": "PROTO_ARG_UINT",
    "fixed": "PROTO_ARG_FIXED",
    "string": "PROTO_ARG_STRING",
    "object": "PROTO_ARG_OBJECT",
    "new_id": "PROTO_ARG_NEW_ID",
    "array": "PROTO_ARG_ARRAY",
    "fd": "PROTO_ARG_FD",
}
MAX_ARGS = 20


class GenError(Exception):
    pass


class Arg:
    def __init__(self, name, type_, interface, nullable, dynamic=False):
        self.name = name
        self.type = type_
        self.interface = interface
        self.nullable = nullable
        self.dynamic = dynamic


class Message:
    def __init__(self, name, opcode, since, destructor, args):
        self.name = name
        self.opcode = opcode
        self.since = since
        self.destructor = destructor
        self.args = args


class Interface:
    def __init__(self, name, version, protocol, requests, events):
        self.name = name
        self.version = version
        self.protocol = protocol
        self.requests = requests
        self.events = events


def parse_bool(value, where):
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise GenError(f"{where}: allow-null must be true or false, not {value!r}")


def parse_message(elem, opcode, iface_name, kind):
    name = elem.get("name")
    where = f"{iface_name}.{name}"
    if not name:
        raise GenError(f"{iface_name}: {kind} without a name")
    since = int(elem.get("since", "1"))
    if since < 1:
        raise GenError(f"{where}: since must be >= 1")
    destructor = elem.get("type") == "destructor"
    args = []
    for a in elem.findall("arg"):
        aname = a.get("name")
        atype = a.get("type")
        if atype not in ARG_TYPES:
            raise GenError(f"{where}: argument {aname!r} has unknown type {atype!r}")
        iface = a.get("interface")
        nullable = parse_bool(a.get("allow-null"), f"{where}.{aname}")
        if nullable and atype not in ("string", "object", "new_id", "array"):
            raise GenError(f"{where}.{aname}: allow-null on a {atype} argument")
        if atype == "new_id" and iface is None:
            # Untyped new_id (wl_registry.bind): the wire carries the
            # interface name and version in front of the id.
            if nullable:
                # wayland-scanner would write "?sun", making the interface
                # name nullable rather than the id; no protocol does this,
                # so refuse instead of guessing.
                raise GenError(f"{where}.{aname}: allow-null on a new_id without interface")
            args.append(Arg("interface", "string", None, False))
            args.append(Arg("version", "uint", None, False))
            args.append(Arg(aname, "new_id", None, False, dynamic=True))
        else:
            if iface is not None and atype not in ("object", "new_id"):
                raise GenError(f"{where}.{aname}: interface on a {atype} argument")
            args.append(Arg(aname, atype, iface, nullable))
    if len(args) > MAX_ARGS:
        raise GenError(f"{where}: {len(args)} wire arguments > {MAX_ARGS}")
    if sum(1 for a in args if a.type == "new_id") > 1:
        raise GenError(f"{where}: more than one new_id argument")
    return Message(name, opcode, since, destructor, args)


def parse_protocol(path):
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise GenError(f"{path}: {e}")
    if root.tag != "protocol" or not root.get("name"):
        raise GenError(f"{path}: not a Wayland protocol file")
    interfaces = []
    for ielem in root.findall("interface"):
        name = ielem.get("name")
        version = int(ielem.get("version", "0"))
        if not name or version < 1:
            raise GenError(f"{path}: interface {name!r} without a valid name and version")
        requests = [parse_message(m, i, name, "request")
                    for i, m in enumerate(ielem.findall("request"))]
        events = [parse_message(m, i, name, "event")
                  for i, m in enumerate(ielem.findall("event"))]
        for m in requests + events:
            if m.since > version:
                raise GenError(f"{name}.{m.name}: since {m.since} > interface version {version}")
        interfaces.append(Interface(name, version, root.get("name"), requests, events))
    return root.get("name"), interfaces


def c_ident(name):
    if not name.replace("_", "a").isalnum() or not name.isascii():
        raise GenError(f"name {name!r} is not a C identifier")
    return name


def signature(msg):
    """The message signature in wayland-scanner's notation (for comments)."""
    out = str(msg.since) if msg.since > 1 else ""
    for a in msg.args:
        out += ("?" if a.nullable else "") + "iufsonah"[list(ARG_TYPES).index(a.type)]
    return out


def drop_arg(protocols, spec):
    """Removes the argument named by spec (IFACE.MSG or IFACE.MSG.ARG; without
    ARG the last wire argument) from every request and event IFACE.MSG."""
    parts = spec.split(".")
    if len(parts) not in (2, 3):
        raise GenError(f"--drop-arg {spec}: expected IFACE.MSG or IFACE.MSG.ARG")
    dropped = 0
    for _, ifaces in protocols:
        for iface in ifaces:
            if iface.name != parts[0]:
                continue
            for m in iface.requests + iface.events:
                if m.name != parts[1] or not m.args:
                    continue
                if len(parts) == 2:
                    keep = m.args[:-1]
                else:
                    keep = [a for a in m.args if a.name != parts[2]]
                dropped += len(m.args) - len(keep)
                m.args = keep
    if dropped == 0:
        raise GenError(f"--drop-arg {spec}: no such argument")


def generate(protocols, header_name="proto_tables.h"):
    by_name = {}
    order = []
    for pindex, (pname, ifaces) in enumerate(protocols):
        for iface in ifaces:
            if iface.name in by_name:
                raise GenError(f"interface {iface.name} is defined twice")
            iface.protocol_index = pindex
            by_name[iface.name] = iface
            order.append(iface)
    for iface in order:
        for m in iface.requests + iface.events:
            for a in m.args:
                if a.interface is not None and a.interface not in by_name:
                    raise GenError(f"{iface.name}.{m.name}.{a.name}: interface "
                                   f"{a.interface} is not defined by any compiled protocol")
    sorted_ifaces = sorted(order, key=lambda i: i.name)
    for idx, iface in enumerate(sorted_ifaces):
        iface.sorted_index = idx

    h = []
    h.append("/* Generated by protocol/gen_tables.py. Do not edit. */")
    h.append("#ifndef CROSSWAY_PROTO_TABLES_H")
    h.append("#define CROSSWAY_PROTO_TABLES_H")
    h.append("")
    h.append('#include "protocol/tables.h"')
    h.append("")
    h.append(f"#define PROTO_INTERFACE_COUNT {len(order)}")
    h.append("")
    for iface in order:
        n = c_ident(iface.name)
        h.append(f"/* {n} v{iface.version}, protocol {iface.protocol} */")
        h.append(f"#define PROTO_HAVE_{n.upper()} 1")
        h.append(f"extern const struct proto_interface proto_{n};")
        for kind, msgs in (("REQ", iface.requests), ("EVT", iface.events)):
            for m in msgs:
                h.append(f"#define PROTO_{n.upper()}_{kind}_{c_ident(m.name).upper()} {m.opcode}")
        h.append("")
    h.append("#endif")

    c = []
    c.append("/* Generated by protocol/gen_tables.py. Do not edit. */")
    c.append("#include <string.h>")
    c.append("")
    c.append(f'#include "{header_name}"')
    c.append("")
    c.append("const char *const proto_protocols[] = {")
    for pname, _ in protocols:
        c.append(f'\t"{pname}",')
    c.append("};")
    c.append(f"const size_t proto_protocol_count = {len(protocols)};")
    c.append("")
    for iface in order:
        n = iface.name
        for kind, msgs in (("req", iface.requests), ("evt", iface.events)):
            for m in msgs:
                if not m.args:
                    continue
                c.append(f"static const struct proto_arg args_{n}_{kind}_{m.name}[] = {{")
                for a in m.args:
                    ref = f"&proto_{a.interface}" if a.interface else "NULL"
                    flags = ""
                    if a.nullable:
                        flags += ", .nullable = true"
                    if a.dynamic:
                        flags += ", .dynamic = true"
                    c.append(f'\t{{ .name = "{a.name}", .interface = {ref}, '
                             f".type = {ARG_TYPES[a.type]}{flags} }},")
                c.append("};")
        for kind, msgs in (("req", iface.requests), ("evt", iface.events)):
            if not msgs:
                continue
            c.append(f"static const struct proto_message {kind}_{n}[] = {{")
            for m in msgs:
                args = f"args_{n}_{kind}_{m.name}" if m.args else "NULL"
                fds = sum(1 for a in m.args if a.type == "fd")
                new_ids = sum(1 for a in m.args if a.type == "new_id")
                c.append(f'\t{{ .name = "{m.name}", .args = {args}, .since = {m.since}, '
                         f".opcode = {m.opcode}, .arg_count = {len(m.args)}, "
                         f".fd_count = {fds}, .new_id_count = {new_ids}, "
                         f".destructor = {'true' if m.destructor else 'false'} }}, "
                         f'/* "{signature(m)}" */')
            c.append("};")
        c.append(f"const struct proto_interface proto_{n} = {{")
        c.append(f'\t.name = "{n}",')
        c.append(f"\t.requests = {'req_' + n if iface.requests else 'NULL'},")
        c.append(f"\t.events = {'evt_' + n if iface.events else 'NULL'},")
        c.append(f"\t.version = {iface.version},")
        c.append(f"\t.request_count = {len(iface.requests)},")
        c.append(f"\t.event_count = {len(iface.events)},")
        c.append(f"\t.index = {iface.sorted_index},")
        c.append(f"\t.protocol = {iface.protocol_index},")
        c.append("};")
        c.append("")
    c.append("const struct proto_interface *const proto_interfaces[] = {")
    for iface in sorted_ifaces:
        c.append(f"\t&proto_{iface.name},")
    c.append("};")
    c.append(f"const size_t proto_interface_count = {len(order)};")
    c.append("")
    c.append("const struct proto_interface *proto_find_interface(const char *name) {")
    c.append("\tsize_t lo = 0, hi = proto_interface_count;")
    c.append("\twhile (lo < hi) {")
    c.append("\t\tsize_t mid = lo + (hi - lo) / 2;")
    c.append("\t\tint cmp = strcmp(name, proto_interfaces[mid]->name);")
    c.append("\t\tif (cmp == 0) {")
    c.append("\t\t\treturn proto_interfaces[mid];")
    c.append("\t\t} else if (cmp < 0) {")
    c.append("\t\t\thi = mid;")
    c.append("\t\t} else {")
    c.append("\t\t\tlo = mid + 1;")
    c.append("\t\t}")
    c.append("\t}")
    c.append("\treturn NULL;")
    c.append("}")
    return "\n".join(c) + "\n", "\n".join(h) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output-c", required=True, help="path of the generated C source")
    ap.add_argument("--output-h", required=True, help="path of the generated header")
    ap.add_argument("--check", metavar="DIR",
                    help="compare with DIR/<basename of each output> instead of writing")
    ap.add_argument("--drop-arg", metavar="IFACE.MSG[.ARG]", action="append", default=[],
                    help="testing only: leave this argument (default: the last one) out "
                         "of the tables, to prove tests/protocol catches the drift")
    ap.add_argument("xml", nargs="+", help="protocol XML files, in build order")
    opts = ap.parse_args()
    try:
        protocols = [parse_protocol(p) for p in opts.xml]
        names = [p[0] for p in protocols]
        if len(set(names)) != len(names):
            raise GenError("a protocol is listed twice")
        for spec in opts.drop_arg:
            drop_arg(protocols, spec)
        c_text, h_text = generate(protocols, os.path.basename(opts.output_h))
    except GenError as e:
        print(f"gen_tables: {e}", file=sys.stderr)
        return 1
    outputs = ((opts.output_c, c_text), (opts.output_h, h_text))
    if opts.check:
        ok = True
        for path, text in outputs:
            golden = os.path.join(opts.check, os.path.basename(path))
            try:
                with open(golden, encoding="utf-8") as f:
                    expected = f.read()
            except OSError as e:
                print(f"gen_tables: {e}", file=sys.stderr)
                return 1
            if expected != text:
                print(f"gen_tables: output differs from {golden}", file=sys.stderr)
                import difflib
                sys.stderr.writelines(difflib.unified_diff(
                    expected.splitlines(True), text.splitlines(True), golden, "generated"))
                ok = False
        return 0 if ok else 1
    for path, text in outputs:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
