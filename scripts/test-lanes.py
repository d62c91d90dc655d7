#!/usr/bin/env python3
"""Runs the workspace's test binaries in lanes, for `just test`: builds them
once (`cargo test --no-run`), then runs the long suite binary
(harness/tests/suites.rs) in one lane while a second lane runs every other
binary whose checks hold beside another run, one after another; the
binaries that measure time or scan the whole machine (processes by name,
every `svl-` namespace) run last, alone. Each binary runs as `cargo test`
would run it (from its package's folder, libtest's own output), its output
printed whole when it ends, so the log reads like cargo's and `just test`
counts it the same way. At the end, any `svl-` namespace or run lock that
appeared during the tests and is still there is a leak: it is named, with
the tail of its run's log where one is found, and fails the run. Exits
non-zero when any binary failed or anything was left behind.

Usage: test-lanes.py [cargo test selection flags...]"""
import json
import os
import subprocess
import sys
import threading
import time

# Binaries in their own lane: long, and their checks are by their own
# run's names (netns, cgroups, processes by run id, nginx by a namespace
# that no longer exists).
LONG = {("svclab", "suites")}
# Binaries that run alone at the end: timing assertions (probe timeouts,
# SIGTERM and back-off timing) or machine-wide scans (every `svl-`
# namespace, processes by name since an instant).
ALONE = {
    ("svclab", "lifecycle"),
    ("svclab", "programs"),
    ("svclab", "probes"),
    ("svclab", "podserver"),
    ("svclab", "kubelet"),
    ("svclab", "faults"),
}

out_lock = threading.Lock()
failed = []


def build(args):
    cmd = ["cargo", "test", "--no-run", "--message-format=json-render-diagnostics", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    bins = []
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg.get("profile", {}).get("test"):
            continue
        pkg_dir = os.path.dirname(msg["manifest_path"])
        target = msg["target"]
        name = target["name"]
        src = os.path.relpath(target["src_path"], pkg_dir)
        kind = "unittests" if target["kind"] != ["test"] else "tests"
        label = f"{kind} {src}" if kind == "unittests" else src
        bins.append(
            {
                "package": package_name(msg),
                "target": name,
                "kind": target["kind"],
                "label": label,
                "exe": msg["executable"],
                "dir": pkg_dir,
            }
        )
    return bins


def package_name(msg):
    """The package's name from a package id (`path+file:///…#name@ver` or
    `path+file:///…/name#ver`)."""
    pid = msg["package_id"]
    frag = pid.split("#", 1)[1] if "#" in pid else pid
    if "@" in frag:
        return frag.split("@", 1)[0]
    return pid.split("#", 1)[0].rstrip("/").split("/")[-1]


def run_one(b):
    t0 = time.monotonic()
    env = dict(os.environ)
    env["CARGO_MANIFEST_DIR"] = b["dir"]
    env["CARGO_PKG_NAME"] = b["package"]
    p = subprocess.run([b["exe"]], cwd=b["dir"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    took = time.monotonic() - t0
    with out_lock:
        sys.stdout.write(f"     Running {b['label']} ({b['exe']}) [{b['package']}, {took:.1f}s]\n")
        sys.stdout.write(p.stdout.decode(errors="replace"))
        sys.stdout.flush()
        if p.returncode != 0:
            failed.append(f"{b['package']} {b['label']}")


def svl_state():
    """Every `svl-` netns and run lock on the machine."""
    found = set()
    for d in ("/run/netns", "/run/svclab"):
        try:
            found.update(os.path.join(d, n) for n in os.listdir(d) if n.startswith("svl-"))
        except OSError:
            pass
    return found


def run_log(run_id):
    """The run.log of run `run_id` under the temporary folder, if any."""
    top = os.environ.get("TMPDIR", "/tmp")
    for root, dirs, files in os.walk(top):
        if root[len(top):].count(os.sep) > 5:
            dirs[:] = []
            continue
        if os.path.basename(root) == run_id and "run.log" in files:
            return os.path.join(root, "run.log")
    return None


def report_leftovers(before):
    """Names what the tests left behind (present now, absent at the start)."""
    left = sorted(svl_state() - before)
    if not left:
        return False
    print("test-lanes: left behind by the tests:")
    runs = set()
    for path in left:
        print(f"  {path}")
        name = os.path.basename(path)
        if name.startswith("svl-r"):
            runs.add(name[4:].split("-", 1)[0])
    for run_id in sorted(runs):
        log = run_log(run_id)
        if log:
            with open(log, errors="replace") as f:
                tail = f.readlines()[-15:]
            print(f"  last lines of {log}:")
            sys.stdout.write("".join("    " + l for l in tail))
    return True


def lane(bins):
    for b in bins:
        run_one(b)


def main():
    bins = build(sys.argv[1:])
    before = svl_state()
    key = lambda b: (b["package"], b["target"])
    long = [b for b in bins if key(b) in LONG]
    alone = [b for b in bins if key(b) in ALONE]
    rest = [b for b in bins if key(b) not in LONG and key(b) not in ALONE]
    t0 = time.monotonic()
    a = threading.Thread(target=lane, args=(long,))
    a.start()
    lane(rest)
    a.join()
    lane(alone)
    print(f"test-lanes: {len(bins)} binaries in {time.monotonic() - t0:.0f}s")
    if report_leftovers(before):
        failed.append("leftover kernel state")
    if failed:
        print("test-lanes: failed: " + "; ".join(failed))
        sys.exit(101)


if __name__ == "__main__":
    main()
