"""A Debian "AMI" (12 bookworm, 13 trixie) booted with systemd-nspawn, for the tests that need a
real systemd.

The base rootfs of each release (debootstrap --variant=minbase, with systemd and dbus) is cached
outside the repository, in $EC2AGENT_ROOTFS_CACHE (default /var/cache/ec2agent-test), made once
and shared. $EC2AGENT_SYSTEM_RELEASES (default "bookworm trixie") says which releases the suite
boots. Each test module copies a base, installs the built .deb with apt as an image build would,
and boots the copy. The container shares the host's network namespace, so a fake IMDS on the host's
127.0.0.1 answers inside. Every wait is bounded.
"""
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("EC2AGENT_ROOTFS_CACHE", "/var/cache/ec2agent-test"))
RELEASES = os.environ.get("EC2AGENT_SYSTEM_RELEASES", "bookworm trixie").split()
MIRROR = os.environ.get("EC2AGENT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
NSPAWN = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit"]
# Booted as an EC2 VM runs the agent: nspawn withholds CAP_SYSLOG and /dev/kmsg from a container,
# a VM has both. With them the agent's own sandbox is what decides whether it reads the kernel log.
AS_A_VM = ["--capability=CAP_SYSLOG", "--bind-ro=/dev/kmsg"]


T0 = time.monotonic()


def log(msg):
    print("system: [%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def base_rootfs(release="bookworm"):
    """The cached debootstrap tree of RELEASE, made under a lock if it is missing."""
    base = CACHE / ("%s-minbase" % release)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "usr/lib/systemd/systemd").exists():
            tmp = CACHE / ("%s-minbase.tmp" % release)
            shutil.rmtree(tmp, ignore_errors=True)
            log("debootstrap %s into %s (once; cached)" % (release, base))
            subprocess.run(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
                            release, str(tmp), MIRROR], check=True, stdout=subprocess.DEVNULL, timeout=1200)
            shutil.rmtree(base, ignore_errors=True)
            tmp.rename(base)
    return base


def build_deb(outdir):
    """The .deb of this tree: $EC2AGENT_DEB, or scripts/build-deb into OUTDIR."""
    if os.environ.get("EC2AGENT_DEB"):
        return Path(os.environ["EC2AGENT_DEB"])
    subprocess.run([str(SOURCE / "scripts/build-deb"), str(outdir)], check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    return next(Path(outdir).glob("ec2agent_*.deb"))


class Machine:
    """One rootfs copy; boot() starts it, run() executes inside, poweroff() ends the boot."""

    def __init__(self, root, release="bookworm"):
        self.root = Path(root)
        self.release = release
        self.proc = None
        self.pid = None
        self.console = None
        self.boots = 0

    @classmethod
    def from_base(cls, root, release="bookworm"):
        subprocess.run(["cp", "-a", "--reflink=auto", str(base_rootfs(release)), str(root)], check=True,
                       timeout=300)
        return cls(root, release)

    def path(self, p):
        return self.root / p.lstrip("/")

    def write(self, p, text, mode=0o644):
        f = self.path(p)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        f.chmod(mode)

    def chroot(self, *cmd, timeout=600):
        """A command in the rootfs, not booted (an image build step)."""
        return subprocess.run(NSPAWN + ["-D", str(self.root), "--pipe", "--"] + list(cmd),
                              capture_output=True, text=True, timeout=timeout)

    def install_deb(self, deb):
        dest = self.path("/root/" + Path(deb).name)  # nspawn mounts a fresh /tmp
        shutil.copy(deb, dest)
        r = self.chroot("apt-get", "install", "-y", "--no-install-recommends", "/root/" + dest.name)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return r

    def boot(self, timeout=90):
        self.boots += 1
        self.console = open(self.root.parent / ("console-%d.log" % self.boots), "w")
        self.proc = subprocess.Popen(NSPAWN + AS_A_VM + ["-D", str(self.root), "--boot", "--pipe"],
                                     stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.pid is None:
            for child in Path("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read_text().split():
                try:
                    comm = Path("/proc/%s/comm" % child).read_text().strip()
                except FileNotFoundError:  # a short-lived child of nspawn, gone since the listing
                    continue
                if comm == "systemd":
                    self.pid = int(child)
            if self.proc.poll() is not None:
                raise AssertionError("systemd-nspawn exited with %s" % self.proc.returncode)
            time.sleep(0.05)
        assert self.pid, "the container's systemd did not appear"
        # the manager's bus may not answer yet in the first milliseconds: ask until it does
        state = ""
        while not state and time.monotonic() < end:
            r = self.run("systemctl", "is-system-running", "--wait", timeout=max(1, end - time.monotonic()))
            state = r.stdout.strip()
            time.sleep(0 if state else 0.1)
        assert state in ("running", "degraded"), "system state %r: %s" % (state, r.stderr)
        return state

    def run(self, *cmd, timeout=30, check=False):
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-a"] + list(cmd),
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "%s: %s%s" % (" ".join(cmd), r.stdout, r.stderr)
        return r

    def status(self):
        r = self.run("ec2agent", "status", "--json")
        assert r.returncode in (0, 1, 2), r.stderr
        return json.loads(r.stdout)

    def show(self, unit, *props):
        r = self.run("systemctl", "show", unit, "-p", ",".join(props), check=True)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def poweroff(self, timeout=90):
        self.run("systemctl", "poweroff", "--no-block")
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.halt()

    def halt(self):
        """Ends the container however it is: SIGTERM asks nspawn for a clean poweroff; then
        SIGKILL to the container's PID 1 (which ends its whole PID namespace) and to nspawn."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                if self.pid:  # nspawn still runs, so this PID is still the container's
                    os.kill(self.pid, 9)
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.console:
            self.console.close()
        self.proc = self.pid = self.console = None


def wait_for(predicate, timeout=30.0, interval=0.1, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)
