#!/usr/bin/env python3
"""measure.py LABEL [options] -- COMMAND...

Runs COMMAND under /usr/bin/time -v and strace (only the calls that create, open for writing,
rename, link or remove a path are traced, so the rest runs at full speed) with TMPDIR on a
private tmpfs (so spools count even once their names are gone: the tmpfs's used bytes are
polled every 5 ms), and appends one JSON line to $W/results.jsonl: label, command, exit code,
wall s, peak RSS MB, max TMPDIR bytes, and every path written outside the targets and TMPDIR.

  --target PATH   a path the command may write (repeatable; a directory covers what is in it)
  --during CMD    a long-running COMMAND (serve): wait for --wait-url to answer, run CMD in a
                  shell, then stop COMMAND with SIGINT; CMD's output is kept in the row
  --wait-url URL
"""
import json, os, re, shlex, signal, subprocess, sys, threading, time, urllib.request

W = os.environ.get("W", "/tmp/attacks")


def children(pid):
    try:
        out = []
        for t in os.listdir(f"/proc/{pid}/task"):
            out += open(f"/proc/{pid}/task/{t}/children").read().split()
        return [int(x) for x in out]
    except OSError:
        return []


def main():
    argv = sys.argv[1:]
    label = argv.pop(0)
    targets, during, wait_url = [], None, None
    while argv[0] != "--":
        o = argv.pop(0)
        v = argv.pop(0)
        if o == "--target":
            targets.append(os.path.realpath(v))
        elif o == "--during":
            during = v
        elif o == "--wait-url":
            wait_url = v
    cmd = argv[1:]
    out = os.path.join(W, "out", label)
    os.makedirs(out, exist_ok=True)
    tmp = f"/run/attack-tmp-{os.getpid()}"
    os.makedirs(tmp)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20g", "tmpfs", tmp], check=True)
    env = dict(os.environ, TMPDIR=tmp)
    maxused = [0]
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            s = os.statvfs(tmp)
            maxused[0] = max(maxused[0], (s.f_blocks - s.f_bfree) * s.f_frsize)
            time.sleep(0.005)

    th = threading.Thread(target=poll)
    th.start()
    start = time.time()
    t0 = time.monotonic()
    tf = os.path.join(out, "time.txt")
    trace = os.path.join(out, "strace.txt")
    traced = ["strace", "-f", "-qq", "-y", "--seccomp-bpf", "-o", trace, "-e",
              "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,"
              "symlink,symlinkat,unlink,unlinkat,truncate,rmdir"]
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf] + traced + cmd, env=env,
                         stdout=open(os.path.join(out, "stdout"), "wb"),
                         stderr=open(os.path.join(out, "stderr"), "wb"))
    during_out = None
    if during:
        for _ in range(600):
            try:
                urllib.request.urlopen(wait_url, timeout=1)
                break
            except Exception:
                if p.poll() is not None:
                    break
                time.sleep(0.05)
        ready = time.monotonic() - t0
        r = subprocess.run(["bash", "-c", during], capture_output=True, env=env)
        during_out = f"ready after {ready:.2f} s; " + r.stdout.decode(errors="replace").strip()
        todo = children(p.pid)
        while todo:
            c = todo.pop()
            todo += children(c)
            try:
                if open(f"/proc/{c}/comm").read().strip() == os.path.basename(cmd[0]):
                    os.kill(c, signal.SIGINT)
            except OSError:
                pass
    p.wait()
    wall_measured = time.monotonic() - t0
    stop.set()
    th.join()
    left = sum(len(fs) + len(ds) for _, ds, fs in os.walk(tmp))
    subprocess.run(["umount", tmp], check=True)
    os.rmdir(tmp)
    t = open(tf).read()

    def field(name):
        for line in t.splitlines():
            if line.strip().startswith(name):
                return line.rsplit(": ", 1)[1].strip()
        return None

    el = field("Elapsed (wall clock) time").split(":")
    wall = float(el[-1]) + 60 * float(el[-2]) + (3600 * float(el[-3]) if len(el) > 2 else 0)
    code = p.returncode
    m = [l for l in t.splitlines() if "exited with non-zero status" in l or "terminated by signal" in l]
    rss = int(field("Maximum resident set size (kbytes)"))
    # A target FILE is written as FILE.partial first and renamed (create, docker-archive:).
    skip = [os.path.realpath(x) + e for x in targets for e in ("", ".partial")]
    skip += [tmp, "/dev", "/proc", "/sys"]
    written = set()
    for line in open(trace, errors="replace"):
        if "= -1" in line or "resumed>" in line or "(" not in line:
            continue
        call = line.split(None, 1)[1].split("(", 1)[0]
        paths = []
        for mm in re.finditer(r'(?:\d+<([^>]*)>, |AT_FDCWD, )?"((?:[^"\\]|\\.)*)"', line.split("(", 1)[1]):
            base, name = mm.group(1), mm.group(2)
            paths.append(os.path.normpath(os.path.join(base or os.getcwd(), name)))
        if call in ("open", "openat", "creat"):
            if call != "creat" and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_TMPFILE", line):
                continue
            paths = paths[:1]
        elif call in ("symlink", "symlinkat"):
            paths = paths[1:]
        for q in paths:
            if not any(q == k or q.startswith(k + "/") for k in skip):
                written.add(f"{call} {q}")
    err = open(os.path.join(out, "stderr"), errors="replace").read()
    row = {"label": label, "command": " ".join(shlex.quote(c) for c in cmd), "exit": code,
           "wall_s": round(wall, 2), "peak_rss_mb": round(rss / 1024, 1),
           "max_tmpdir_bytes": maxused[0], "tmpdir_entries_left": left,
           "written_outside": sorted(written), "stderr_tail": err.strip()[-600:],
           "during": during_out, "time_status": m}
    with open(os.path.join(W, "results.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


main()
