"""`fulcrum-vrrp -t` against `keepalived -t` (Debian's 2.2.7) on the seed keepalived configs: every
line keepalived prints is printed by fulcrum-vrrp too (fulcrum-vrrp always names the file; its own
extra warnings are allowed), and the exit status is the same."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import SEEDS, fulcrum_bin



def vrrp_bin():
    return str(Path(fulcrum_bin()).parent / "fulcrum-vrrp")


def normalize(line):
    """`(file: Line 6) msg` and `(Line 6) msg` -> `(Line 6) msg`."""
    return re.sub(r"^\((?:[^()]*: )?Line (\d+)\) ", r"(Line \1) ", line.strip())


@pytest.mark.fulcrum_only
@pytest.mark.parametrize("seed", ["keepalived-master.conf", "keepalived-backup.conf", "keepalived-email.conf"])
def test_check_mode_reports_what_keepalived_reports(seed):
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    if not os.path.exists(keepalived):
        pytest.fail("keepalived is required (apt-get install keepalived)")
    path = str(SEEDS / seed)
    theirs = subprocess.run([keepalived, "-t", "-f", path], capture_output=True, text=True, timeout=30)
    ours = subprocess.run([vrrp_bin(), "-t", "-f", path], capture_output=True, text=True, timeout=30)
    their_lines = [normalize(l) for l in (theirs.stdout + theirs.stderr).splitlines() if l.strip()]
    our_lines = [normalize(l) for l in (ours.stdout + ours.stderr).splitlines() if l.strip()]
    assert their_lines, theirs
    missing = [l for l in their_lines if l not in our_lines]
    assert missing == [], f"keepalived said {their_lines}\nfulcrum-vrrp said {our_lines}"
    assert ours.returncode == theirs.returncode, (ours.returncode, theirs.returncode)
