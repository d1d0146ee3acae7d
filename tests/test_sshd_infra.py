"""Tests of tests/sshd.py: real OpenSSH servers in network-namespace hosts, and the
ssh behaviours an ssh backend relies on, measured here (see test_client_gone_*).

Skipped without root, iproute2 or openssh-server/-client. Traffic goes only to the
namespaces made here.
"""

import os
import signal
import subprocess
import time

import pytest

from harness import pid_alive, wait_for
from sshd import SshHosts, ssh_hosts  # noqa: F401 (ssh_hosts is a fixture)


def test_ssh_runs_inside_each_hosts_namespace(ssh_hosts):
    cluster, ssh = ssh_hosts
    for host in cluster.hosts:
        r = ssh.run(host, "hostname -I; ip -4 -o addr show dev eth0")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split() == [host.address]  # the namespace's only non-loopback address
        assert f"inet {host.address}/24" in lines[1]
    assert ssh.host_spec(cluster.hosts[0]) == f"root@{cluster.hosts[0].address}"


def test_copy_a_file_with_scp_and_with_cat(ssh_hosts, tmp_path):
    cluster, ssh = ssh_hosts
    host = cluster.hosts[1]
    data = os.urandom(300_000)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    # The hosts share this machine's filesystem, so the "remote" file is visible here.
    by_scp, by_cat = tmp_path / "by_scp.bin", tmp_path / "by_cat.bin"
    r = subprocess.run(ssh.scp_argv(str(src), f"{ssh.destination(host)}:{by_scp}"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # scp uses SFTP: needs the config's `Subsystem sftp`
    assert by_scp.read_bytes() == data
    with open(src, "rb") as f:
        r = ssh.run(host, f"cat > {by_cat}", stdin=f, text=False)
    assert r.returncode == 0, r.stderr
    assert by_cat.read_bytes() == data


def test_secret_on_stdin_never_shows_in_ps(ssh_hosts):
    cluster, ssh = ssh_hosts
    secret = "tok-" + os.urandom(12).hex()
    p = subprocess.Popen(ssh.ssh_argv(cluster.hosts[0], "read -r t; sleep 1; echo ${#t}"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write(secret + "\n")
    p.stdin.flush()
    scans = 0
    while p.poll() is None:  # the client, sshd and the remote shell all run meanwhile
        ps = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, timeout=10).stdout
        assert secret not in ps
        scans += 1
        time.sleep(0.05)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert out.strip() == str(len(secret))
    assert scans >= 5


def test_rotated_host_key_is_refused_until_forgotten(ssh_hosts):
    cluster, ssh = ssh_hosts
    host = cluster.hosts[1]
    old_key = ssh.host_public_key(host)
    ssh.rotate_host_key(host)
    assert ssh.host_public_key(host) != old_key
    r = ssh.run(host, "true")
    # StrictHostKeyChecking=accept-new only accepts unknown hosts; a changed key is always refused.
    assert r.returncode == 255
    assert "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!" in r.stderr
    assert "Host key verification failed." in r.stderr
    ssh.forget_host_key(host)  # like `ssh-keygen -R`: the next ssh learns the new key (accept-new)
    r = ssh.run(host, "true")
    assert r.returncode == 0, r.stderr
    assert "Permanently added" in r.stderr
    assert ssh.host_public_key(host).split()[1] in ssh.known_hosts.read_text()


def test_killed_sshd_refuses_and_comes_back_sessions_survive(ssh_hosts):
    cluster, ssh = ssh_hosts
    host = cluster.hosts[1]
    session = subprocess.Popen(ssh.ssh_argv(host, "echo ready; read -r x; echo got $x"), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert session.stdout.readline() == "ready\n"
        ssh.kill_sshd(host)
        r = ssh.run(host, "true")
        assert r.returncode == 255
        assert f"ssh: connect to host {host.address} port 22: Connection refused" in r.stderr
        # The per-connection sshd is not the listener (own session): it carries on without it.
        out, _ = session.communicate("x1\n", timeout=10)
        assert out == "got x1\n"
    finally:
        ssh.start_sshd(host)
        session.kill()
        session.wait()
    r = ssh.run(host, "true")
    assert r.returncode == 0, r.stderr


def test_cut_host_times_out_within_connect_timeout(ssh_hosts):
    cluster, ssh = ssh_hosts
    host = cluster.hosts[0]
    host.cut()
    try:
        t = time.monotonic()
        r = ssh.run(host, "true")
        elapsed = time.monotonic() - t
    finally:
        host.restore()
    # The SYNs vanish (the veth is down, ARP gets no answer): no "No route to host" within the 5 s.
    assert r.returncode == 255
    assert f"ssh: connect to host {host.address} port 22: Connection timed out" in r.stderr
    assert ssh.connect_timeout - 0.5 < elapsed < ssh.connect_timeout + 3
    r = ssh.run(host, "true")
    assert r.returncode == 0, r.stderr


# Remote command for the tests below: prints its pid, then runs until a signal, writing the
# signal's name to FILE first. CHATTY=1: it also writes a line to stdout every 0.1 s.
WATCH = ("for s in HUP INT TERM PIPE; do trap \"echo $s > {file}; exit\" $s; done; echo $$; "
         "while :; do [ {chatty} = 1 ] && echo tick; sleep 0.1; done")


def _remote_watch(ssh, host, file, chatty, tty):
    argv = ssh.ssh_argv(host, WATCH.format(file=file, chatty=int(chatty)))
    if tty:
        argv.insert(1, "-tt")  # a pty even though our stdin is not a terminal
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    pid = int(p.stdout.readline().strip())
    assert pid_alive(pid)  # same pid namespace: the "remote" process is visible here
    return p, pid


@pytest.mark.parametrize("chatty,tty,expect", [
    # No tty, quiet: sshd just closes the session's pipes when the client goes. No SIGHUP (or any
    # signal) reaches the command; it is reparented to init and keeps running (measured: alive
    # after 1.5 s, ppid 1). An ssh backend must therefore stop remote processes itself (a kill
    # over a new connection, or a process that exits when its stdin reaches EOF).
    (False, False, "alive"),
    # No tty, writing to stdout: the next write to the closed pipe raises SIGPIPE (within 0.1 s).
    (True, False, "PIPE"),
    # With a pty (ssh -tt): closing the pty master hangs it up, the session gets SIGHUP.
    (False, True, "HUP"),
])
def test_client_gone_remote_command(ssh_hosts, tmp_path, chatty, tty, expect):
    cluster, ssh = ssh_hosts
    file = tmp_path / "signal"
    p, pid = _remote_watch(ssh, cluster.hosts[0], file, chatty, tty)
    try:
        p.kill()  # the client dies: its TCP connection closes, sshd ends the session
        p.wait()
        if expect == "alive":
            time.sleep(1.5)
            assert pid_alive(pid) and not file.exists()
        else:
            wait_for(lambda: file.exists() and not pid_alive(pid), timeout=5, what=f"SIG{expect}")
            assert file.read_text().strip() == expect
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_close_ends_everything_started_through_sshd(ssh_hosts, tmp_path):
    """A second SshHosts on port 2222 of the same hosts; close() must end detached remote processes
    too: one in a new session (setsid), one orphaned with a cleared environment (found through
    its session), one orphaned by nohup &. A process that both clears its environment and leaves
    its session is out of close()'s reach; NetnsCluster.close() still kills it (in the namespace)."""
    cluster, _ = ssh_hosts
    host = cluster.hosts[1]
    with SshHosts(cluster, tmp_path / "ssh2", port=2222) as ssh2:
        assert ssh2.host_spec(host) == f"root@{host.address}:2222"
        r = ssh2.run(host, "setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo $!; "
                           "(env -i sleep 1002 </dev/null >/dev/null 2>&1 & echo $!) ; "
                           "nohup sleep 1003 </dev/null >/dev/null 2>&1 & echo $!")
        assert r.returncode == 0, r.stderr
        pids = [int(x) for x in r.stdout.split()]
        assert len(pids) == 3 and all(pid_alive(pid) for pid in pids)
        listeners = [ssh2.sshd_pid(h) for h in cluster.hosts]
        assert len(ssh2.leftovers()) >= 5  # 2 listeners, 3 sleeps
    assert ssh2.leftovers() == []
    assert not any(pid_alive(pid) for pid in pids + listeners)
    r = ssh2.run(host, "true")
    assert r.returncode == 255 and "Connection refused" in r.stderr
