#!/usr/bin/env python3
"""Turn daemon/seccomp.list into a C table (see that file for the format)."""
import re
import sys

LINE = re.compile(r"^(gpu\s+)?([a-z0-9_]+)(?:\s+a([0-5])\s*(?:&\s*(\w+)\s*)?==\s*(\w+))?$")


def num(text):
    return int(text, 0)


def main():
    src, out = sys.argv[1], sys.argv[2]
    rules = []
    with open(src, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = LINE.match(line)
            if not m:
                sys.exit(f"{src}:{lineno}: cannot parse '{line}'")
            gpu, name, arg, mask, value = m.groups()
            gpu = "true" if gpu else "false"
            if arg is None:
                rules.append((name, -1, 0, 0, gpu))
            else:
                rules.append((name, int(arg), num(mask) if mask else 0xFFFFFFFFFFFFFFFF,
                              num(value), gpu))
    with open(out, "w", encoding="utf-8") as f:
        f.write("/* Generated from daemon/seccomp.list by daemon/gen_seccomp.py. */\n")
        f.write('#include "daemon/sandbox.h"\n\n')
        f.write("const struct sandbox_syscall_rule sandbox_syscall_rules[] = {\n")
        for name, arg, mask, value, gpu in rules:
            f.write(f'\t{{"{name}", {arg}, 0x{mask:x}ull, 0x{value:x}ull, {gpu}}},\n')
        f.write("};\n")
        f.write(f"const size_t sandbox_syscall_rule_count = {len(rules)};\n")


if __name__ == "__main__":
    main()
