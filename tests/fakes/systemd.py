"""A fake systemd manager on a private D-Bus bus, for the agent's stop/restart/reboot/exec steps.

A dbus-daemon of its own (unix socket in a temporary directory) and, on it, the name
org.freedesktop.systemd1 with the part of org.freedesktop.systemd1.Manager the agent calls:
Subscribe, StopUnit, RestartUnit, StartUnit and StartTransientUnit, each answered with a job
path, and the JobRemoved signal when the job ends (as systemd(1) and its D-Bus API document
them: org.freedesktop.systemd1(5)). A unit's job can be made slow (`slow[unit] = seconds`),
so a test can kill the agent while a step runs. Transient units (exec steps) really run their
ExecStart argv with their Environment, in a session of their own; StopUnit on one sends
SIGTERM to its process group and SIGKILL 5 s later, as systemd does with TimeoutStopUSec=5s.
A transient unit still running when the agent asks for it again is answered UnitExists, as
systemd does. StartUnit of an instance of a template in `templates` (prefix "ec2agent-step@"
-> a function of the unit and the call's record giving the argv of its ExecStart=) runs that
argv like a transient unit (PATH its only variable, as a unit's environment without
Environment=); started again while it runs, it joins the running start job, as systemd merges
them. Every call is recorded in `calls` (dicts: method, unit, mode, t).

The agent reaches it through $DBUS_SYSTEM_BUS_ADDRESS; it looks for systemd only where
/run/systemd/system exists, so tests run it in a mount namespace of its own (see
tests/integration/test_examples.py).
"""
import os
import signal
import subprocess
import tempfile
import threading
import time

from gi.repository import Gio, GLib

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

MANAGER_XML = """<node>
 <interface name="org.freedesktop.systemd1.Manager">
  <method name="Subscribe"/>
  <method name="StopUnit"><arg type="s" direction="in"/><arg type="s" direction="in"/>
   <arg type="o" direction="out"/></method>
  <method name="RestartUnit"><arg type="s" direction="in"/><arg type="s" direction="in"/>
   <arg type="o" direction="out"/></method>
  <method name="StartUnit"><arg type="s" direction="in"/><arg type="s" direction="in"/>
   <arg type="o" direction="out"/></method>
  <method name="StartTransientUnit"><arg type="s" direction="in"/><arg type="s" direction="in"/>
   <arg type="a(sv)" direction="in"/><arg type="a(sa(sv))" direction="in"/>
   <arg type="o" direction="out"/></method>
  <signal name="JobRemoved"><arg type="u"/><arg type="o"/><arg type="s"/><arg type="s"/></signal>
 </interface>
</node>
"""

PATH = "/org/freedesktop/systemd1"
IFACE = "org.freedesktop.systemd1.Manager"
KILL_AFTER = 5.0


class FakeSystemd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fake-systemd-")
        self.socket = os.path.join(self.dir, "bus")
        self.address = "unix:path=" + self.socket
        self.lock = threading.Lock()
        self.calls = []          # every Manager call: method, unit, mode, t
        self.slow = {}           # unit -> seconds its stop/restart/start job takes
        self.transient = {}      # unit -> Popen of a transient unit still running
        self.templates = {}      # "name@" -> fn(unit, record) -> the argv an instance runs
        self.jobs = 0
        self.timers = []         # jobs still to end: cancelled at stop()
        self.daemon = None
        self.conn = None
        self.loop = None

    # ---- life ----
    def start(self):
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(path=self.socket))
        self.daemon = subprocess.Popen(["dbus-daemon", "--nofork", "--nopidfile", "--config-file=" + conf],
                                       stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while not os.path.exists(self.socket):
            if time.monotonic() > end or self.daemon.poll() is not None:
                raise RuntimeError("dbus-daemon did not start")
            time.sleep(0.02)
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10) or self.conn is None:
            raise RuntimeError("the fake systemd did not get on its bus")
        return self

    def _run(self, ready):
        ctx = GLib.MainContext.new()
        ctx.push_thread_default()
        try:
            end = time.monotonic() + 10
            while self.conn is None:   # the socket exists a moment before dbus-daemon listens on it
                try:
                    self.conn = Gio.DBusConnection.new_for_address_sync(
                        self.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
                except GLib.Error:
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.05)
            info = Gio.DBusNodeInfo.new_for_xml(MANAGER_XML).interfaces[0]
            self.conn.register_object(PATH, info, self._on_call, None, None)
            self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "RequestName", GLib.Variant("(su)", ("org.freedesktop.systemd1", 4)),
                                None, Gio.DBusCallFlags.NONE, -1, None)
        finally:
            ready.set()
        self.loop = GLib.MainLoop.new(ctx, False)
        self.loop.run()

    def stop(self):
        with self.lock:
            procs = list(self.transient.values())
            timers, self.timers = self.timers, []
        for t in timers:
            t.cancel()
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.loop:
            self.loop.quit()
        if self.daemon:
            self.daemon.kill()
            self.daemon.wait(5)

    # ---- queries ----
    def called(self, method=None, unit=None):
        with self.lock:
            return [c for c in self.calls if (method is None or c["method"] == method) and
                    (unit is None or c["unit"] == unit)]

    # ---- the Manager ----
    def _job(self):
        with self.lock:
            self.jobs += 1
            return self.jobs, "%s/job/%d" % (PATH, self.jobs)

    def _removed(self, job_id, job, unit, result):
        try:
            self.conn.emit_signal(None, PATH, IFACE, "JobRemoved",
                                  GLib.Variant("(uoss)", (job_id, job, unit, result)))
        except GLib.Error:
            if not self.conn.is_closed():
                raise       # closed: the fake was stopped, nobody listens any more

    def _later(self, seconds, fn, *args):
        t = threading.Timer(seconds, fn, args)
        t.daemon = True
        with self.lock:
            self.timers = [x for x in self.timers if x.is_alive()] + [t]
        t.start()

    def _on_call(self, conn, sender, path, iface, method, params, invocation):
        args = params.unpack()
        unit = args[0] if args else ""
        mode = args[1] if len(args) > 1 else ""
        record = {"method": method, "unit": unit, "mode": mode, "t": time.time()}
        if method == "StartTransientUnit":
            props = dict(args[2])
            record["argv"] = props["ExecStart"][0][1]
            record["environment"] = props.get("Environment", [])
            record["started"] = False
        with self.lock:
            self.calls.append(record)
        if method == "Subscribe":
            return invocation.return_value(None)
        if method == "StartTransientUnit":
            return self._start_transient(invocation, unit, record)
        template = next((fn for prefix, fn in self.templates.items() if unit.startswith(prefix)), None)
        if method == "StartUnit" and template is not None:
            with self.lock:
                proc = self.transient.get(unit)
            if proc is not None and not proc.stopping:   # systemd merges the start jobs
                record["joined"] = True
                return invocation.return_value(GLib.Variant("(o)", (proc.start_job[1],)))
            record["argv"] = template(unit, record)
            record["environment"] = []
            record["started"] = False
            return self._start_transient(invocation, unit, record, exists_error=False)
        job_id, job = self._job()
        invocation.return_value(GLib.Variant("(o)", (job,)))
        with self.lock:
            proc = self.transient.get(unit)
        if method == "StopUnit" and proc is not None:
            return self._stop_transient(proc, job_id, job, unit)
        self._later(self.slow.get(unit, 0.05), self._removed, job_id, job, unit, "done")

    def _start_transient(self, invocation, unit, record, exists_error=True):
        with self.lock:
            if unit in self.transient and exists_error:
                return invocation.return_dbus_error("org.freedesktop.systemd1.UnitExists",
                                                    "Unit %s already exists." % unit)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env.update(e.split("=", 1) for e in record["environment"])
        job_id, job = self._job()
        try:
            proc = subprocess.Popen(record["argv"], env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        except OSError:
            invocation.return_value(GLib.Variant("(o)", (job,)))
            return self._later(0.01, self._removed, job_id, job, unit, "failed")
        record["started"] = True
        proc.start_job = (job_id, job)
        proc.stopping = False
        with self.lock:
            self.transient[unit] = proc
        invocation.return_value(GLib.Variant("(o)", (job,)))
        threading.Thread(target=self._wait_transient, args=(proc, unit), daemon=True).start()

    def _wait_transient(self, proc, unit):
        rc = proc.wait()
        with self.lock:
            if self.transient.get(unit) is proc:   # not a new start of the same unit since
                self.transient.pop(unit)
        if not proc.stopping:
            self._removed(*proc.start_job, unit, "done" if rc == 0 else "failed")

    def _stop_transient(self, proc, job_id, job, unit):
        proc.stopping = True
        self._removed(*proc.start_job, unit, "canceled")

        def stop():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(KILL_AFTER)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            self._removed(job_id, job, unit, "done")
        threading.Thread(target=stop, daemon=True).start()
