#!/usr/bin/python3
"""check_mutants.py — mutation testing: does the suite notice realistic bugs?

    make check-mutants                       (builds a copy of the tree in build-mutants/, runs all)
    tests/check_mutants.py BUILDDIR [ID ...]  (BUILDDIR configured and built; only the given ids)
    tests/check_mutants.py --list-only SRCDIR (seconds, in make check: every mutant's text occurs
                                              exactly once in SRCDIR's file, so an edit that moves
                                              it is caught before the slow run)

tests/mutants.txt lists small, realistic bugs (a sign flipped in a backward formula, an off-by-one
in a loop bound, a swapped optimizer constant, a loosened bounds check, ...), each with the test
programs that should notice it. For each one this script edits the source file in BUILDDIR (the
text to replace must occur exactly once), rebuilds those programs incrementally, runs them, and
restores the file. A mutant is killed when a test fails; it survives when every test passes. A
mutant whose text is not found, which does not compile, or whose test skips is an error in the list.
Prints one line per mutant and the mutation score; exits 1 unless every mutant was killed.
"""
import os
import subprocess
import sys
import time


def parse(path):
    """Blocks of 'key: value' lines separated by blank lines; '#' lines are comments."""
    mutants, cur = [], {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                if cur:
                    mutants.append(cur)
                    cur = {}
                continue
            key, sep, val = line.partition(":")
            if not sep or key not in ("id", "file", "from", "to", "tests", "why"):
                sys.exit(f"{path}: bad line {line!r}")
            cur[key] = val[1:] if val.startswith(" ") else val
    if cur:
        mutants.append(cur)
    for m in mutants:
        missing = [k for k in ("id", "file", "from", "to", "tests") if k not in m]
        if missing:
            sys.exit(f"{path}: mutant {m.get('id', '?')} lacks {', '.join(missing)}")
    return mutants


def run(cmd, cwd, timeout):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        return 124, (e.stdout or b"").decode(errors="replace")


def try_mutant(build, m):
    path = os.path.join(build, m["file"])
    with open(path, encoding="utf-8") as f:
        orig = f.read()
    frm, to = m["from"].replace("\\n", "\n"), m["to"].replace("\\n", "\n")
    n = orig.count(frm)
    if n != 1:
        return "error", f"the text to replace occurs {n} times in {m['file']}"
    tests = m["tests"].split()
    progs = [t for t in tests if not t.endswith(".sh")] + (["chargpt"] if any(t.endswith(".sh") for t in tests) else [])
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(orig.replace(frm, to))
        rc, out = run(["make", "-j2"] + progs, build, 900)
        if rc != 0:
            return "error", "does not compile: " + out.strip().splitlines()[-1][:120]
        for t in tests:
            env_cmd = ["env", "OMP_WAIT_POLICY=passive", "CK_DEFAULT_TIMEOUT=60", "srcdir=.", t if t.startswith("/") else "./" + t]
            rc, out = run(env_cmd, build, 600)
            if rc == 77:
                return "error", f"{t} skipped"
            if rc != 0:
                return "killed", f"by {t}"
        return "survived", "every listed test passed"
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(orig)


def list_only(src, mutants):
    """One line per mutant whose text does not occur exactly once in its file under src."""
    bad = 0
    for m in mutants:
        with open(os.path.join(src, m["file"]), encoding="utf-8") as f:
            n = f.read().count(m["from"].replace("\\n", "\n"))
        if n != 1:
            bad += 1
            print(f"FAIL: mutant {m['id']}: its text occurs {n} times in {m['file']} (update tests/mutants.txt)")
    print(f"{len(mutants) - bad} passed, {bad} failed (mutants.txt: the text of each of {len(mutants)} mutants occurs once)")
    return 1 if bad else 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    mutants = parse(os.path.join(here, "mutants.txt"))
    ids = [m["id"] for m in mutants]
    if len(set(ids)) != len(ids):
        sys.exit("mutants.txt: duplicate ids")
    if sys.argv[1] == "--list-only":
        return list_only(sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(here), mutants)
    build = sys.argv[1]
    only = set(sys.argv[2:])
    if only:
        unknown = only - set(ids)
        if unknown:
            sys.exit(f"unknown mutant ids: {' '.join(sorted(unknown))}")
        mutants = [m for m in mutants if m["id"] in only]
    counts = {"killed": 0, "survived": 0, "error": 0}
    t0 = time.time()
    for m in mutants:
        ts = time.time()
        verdict, why = try_mutant(build, m)
        counts[verdict] += 1
        print(f"{verdict:8s} {m['id']:28s} {m['file']}: {why} ({time.time() - ts:.0f} s)", flush=True)
    # leave the tree as built from the original sources
    run(["make", "-j2"], build, 900)
    total = len(mutants)
    print(f"mutation score: {counts['killed']}/{total} killed, {counts['survived']} survived, "
          f"{counts['error']} errors in the list ({time.time() - t0:.0f} s)")
    print(f"{counts['killed']} passed, {counts['survived'] + counts['error']} failed")
    return 0 if counts["killed"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
