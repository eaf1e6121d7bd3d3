"""Run real KMS emulators (moto server, MiniStack, LocalStack) as separate processes on loopback.

Why: an in-process moto only shows how moto's Python objects behave; the suite's verdicts are about
what an implementation answers on the wire. This module installs each emulator into its own
virtualenv (so their pinned dependencies never touch the project's), starts it bound to 127.0.0.1
on a free port, waits until it is ready, refuses to keep it running if any of its sockets listens
beyond loopback, and stops it by its own process group - also when the caller fails.

CLI::

    python -m conformance.emulators install NAME
    python -m conformance.emulators start NAME            # foreground; Ctrl-C stops it
    python -m conformance.emulators run NAME -- CMD ...   # CMD sees AWS_ENDPOINT_URL_KMS etc.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import dataclasses
import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

__all__ = [
    "EMULATORS",
    "EmulatorError",
    "EmulatorSpec",
    "Listener",
    "RunningEmulator",
    "command_environment",
    "emulator_home",
    "ensure_installed",
    "main",
    "non_loopback",
    "parse_ss_listeners",
    "process_group_pids",
    "running",
    "start",
]

HOME_ENV = "KMS_CONFORMANCE_EMULATOR_HOME"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_LOG_TAIL_LINES = 40
_STOP_GRACE_SECONDS = 10.0
_KEEP_RUN_DIRS = 5


class EmulatorError(RuntimeError):
    """An emulator could not be installed, started, kept on loopback or stopped."""


def _progress(message: str) -> None:
    """Progress goes to stderr so that `run`'s command keeps a clean stdout."""
    print(f"[emulators] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EmulatorSpec:
    """How to install, start, probe and reset one emulator.

    `command` and `environment` get (venv python, port, run dir); `run dir` holds the log, state and
    temporary files of one run, so nothing lands in the repository root or the system /tmp.
    """

    name: str
    requirements: tuple[str, ...]
    version_code: str  # Python run by the venv's interpreter; prints the version
    command: Callable[[Path, int, Path], list[str]]
    environment: Callable[[int, Path], dict[str, str]]
    health_path: str
    is_ready: Callable[[int, bytes], bool]
    reset_path: str | None
    ready_timeout: float
    notes: str = ""
    # Run once after pip (venv python, emulator dir); part of the install stamp by name.
    after_install: Callable[[Path, Path], None] | None = None
    # Run before each start (emulator dir, run dir).
    before_run: Callable[[Path, Path], None] | None = None


def _status_ok(status: int, _body: bytes) -> bool:
    return status == 200


def _localstack_kms_running(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    try:
        services = json.loads(body).get("services", {})
    except (ValueError, AttributeError):
        return False
    return isinstance(services, dict) and services.get("kms") == "running"


def _common_env(run_dir: Path) -> dict[str, str]:
    """Temp and cache files of every emulator go below its run dir."""
    return {
        "TMPDIR": str(run_dir / "tmp"),
        "XDG_CACHE_HOME": str(run_dir / "cache"),
        "PYTHONUNBUFFERED": "1",
    }


def _moto_command(python: Path, port: int, _run_dir: Path) -> list[str]:
    return [str(python.parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]


def _moto_env(_port: int, run_dir: Path) -> dict[str, str]:
    return _common_env(run_dir)


def _ministack_command(python: Path, _port: int, _run_dir: Path) -> list[str]:
    return [str(python.parent / "ministack")]


def _ministack_env(port: int, run_dir: Path) -> dict[str, str]:
    env = _common_env(run_dir)
    env.update(
        {
            "BIND_HOST": "127.0.0.1",  # default is 0.0.0.0
            "GATEWAY_PORT": str(port),
            "IOT_MTLS_ENABLED": "0",  # else an IoT mTLS listener on 0.0.0.0:8883
            "SFTP_ENABLED": "0",
            "PERSIST_STATE": "0",
            "STATE_DIR": str(run_dir / "state"),  # default /tmp/ministack-state
            "S3_DATA_DIR": str(run_dir / "state" / "s3"),  # default /tmp/ministack-data/s3
        }
    )
    return env


def _localstack_command(python: Path, _port: int, _run_dir: Path) -> list[str]:
    return [str(python), "-m", "localstack.runtime.main"]


def _localstack_env(port: int, run_dir: Path) -> dict[str, str]:
    env = _common_env(run_dir)
    env.update(
        {
            "OVERRIDE_IN_DOCKER": "0",
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0",  # no DNS server (it would bind port 53 on 0.0.0.0)
            "SERVICES": "kms",
            "EAGER_SERVICE_LOADING": "1",
            "DISABLE_EVENTS": "1",  # no analytics
            "SKIP_SSL_CERT_DOWNLOAD": "1",  # no certificate download at start
            "PERSISTENCE": "0",
            # Host mode keeps its whole filesystem (state, cache, logs) below site-packages otherwise.
            "FILESYSTEM_ROOT": str(run_dir / "filesystem"),
        }
    )
    return env


def _localstack_static_libs(base: Path) -> Path:
    return base / "static" / "usr" / "lib" / "localstack"


def _localstack_after_install(python: Path, base: Path) -> None:
    """Build LocalStack's service catalog once (its own build step); else each run spends ~7s on it."""
    static = _localstack_static_libs(base)
    shutil.rmtree(static, ignore_errors=True)
    static.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
    env.update({"FILESYSTEM_ROOT": str(base / "static"), "OVERRIDE_IN_DOCKER": "0", "DISABLE_EVENTS": "1"})
    env.update({"XDG_CACHE_HOME": str(base / "static" / "cache")})
    _progress("localstack: building its service catalog (python -m localstack.aws.spec)")
    _run_logged([str(python), "-m", "localstack.aws.spec"], base / "install.log", "catalog build", env=env)


def _localstack_before_run(base: Path, run_dir: Path) -> None:
    """Give the run the prebuilt catalog: LocalStack reads it from FILESYSTEM_ROOT/usr/lib/localstack."""
    link = run_dir / "filesystem" / "usr" / "lib" / "localstack"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(_localstack_static_libs(base), target_is_directory=True)


EMULATORS: dict[str, EmulatorSpec] = {
    "moto-server": EmulatorSpec(
        name="moto-server",
        requirements=("moto[server]==5.2.5",),
        version_code="import moto; print(moto.__version__)",
        command=_moto_command,
        environment=_moto_env,
        health_path="/moto-api/data.json",
        is_ready=_status_ok,
        reset_path="/moto-api/reset",
        ready_timeout=30.0,
    ),
    "ministack": EmulatorSpec(
        name="ministack",
        # Without cryptography, asymmetric CreateKey and GetParametersForImport answer 500
        # KMSInternalException ("requires the cryptography package").
        requirements=("ministack==1.5.33", "cryptography"),
        version_code="import importlib.metadata as m; print(m.version('ministack'))",
        command=_ministack_command,
        environment=_ministack_env,
        health_path="/_ministack/health",
        is_ready=_status_ok,
        reset_path="/_ministack/reset",
        ready_timeout=30.0,
    ),
    "localstack": EmulatorSpec(
        name="localstack",
        requirements=(
            "localstack-core[base-runtime]==4.10.0",
            "cbor2==5.8.0",
            "pyopenssl==25.3.0",
            # psutil 7.2 removed psutil._common.snicaddr, which localstack.dns.server imports.
            "psutil==7.1.3",
        ),
        version_code="import importlib.metadata as m; print(m.version('localstack-core'))",
        command=_localstack_command,
        environment=_localstack_env,
        health_path="/_localstack/health",
        is_ready=_localstack_kms_running,
        reset_path=None,  # the community edition has no state-reset endpoint
        ready_timeout=180.0,
        notes="community edition without Docker; reset unsupported",
        after_install=_localstack_after_install,
        before_run=_localstack_before_run,
    ),
}


def _spec(name: str) -> EmulatorSpec:
    try:
        return EMULATORS[name]
    except KeyError:
        raise EmulatorError(f"unknown emulator {name!r}; known: {', '.join(sorted(EMULATORS))}") from None


# --------------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------------


def emulator_home(home: Path | str | None = None) -> Path:
    """The cache dir: `home`, else $KMS_CONFORMANCE_EMULATOR_HOME, else <repo>/.emulators."""
    chosen = home if home is not None else os.environ.get(HOME_ENV) or (_REPO_ROOT / ".emulators")
    return Path(chosen).expanduser().resolve()


def _venv_python(base: Path) -> Path:
    return base / "venv" / "bin" / "python"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise installs of one emulator between processes (pytest-xdist workers, parallel CLIs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_wanted(spec: EmulatorSpec) -> dict[str, object]:
    hook = spec.after_install.__name__ if spec.after_install is not None else None
    return {"requirements": list(spec.requirements), "python": sys.version.split()[0], "after_install": hook}


def _read_stamp(base: Path) -> dict[str, object] | None:
    try:
        data = json.loads((base / "installed.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _run_logged(argv: Sequence[str], log: Path, what: str, env: Mapping[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    if result.returncode != 0:
        raise EmulatorError(f"{what} failed (exit {result.returncode}); last lines of {log}:\n{_tail(log)}")


def ensure_installed(name: str, home: Path | str | None = None) -> Path:
    """Install `name` into <home>/<name>/venv unless the same requirements already are; return its python."""
    spec = _spec(name)
    base = emulator_home(home) / name
    python = _venv_python(base)
    with _file_lock(base / ".install.lock"):
        stamp = _read_stamp(base)
        wanted = _stamp_wanted(spec)
        if stamp is not None and python.exists() and all(stamp.get(k) == v for k, v in wanted.items()):
            return python
        log = base / "install.log"
        started = time.monotonic()
        if base.joinpath("venv").exists():
            _progress(f"{name}: requirements changed or install incomplete; recreating {base / 'venv'}")
            shutil.rmtree(base / "venv")
        base.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        (base / "installed.json").unlink(missing_ok=True)
        _progress(f"{name}: creating virtualenv {base / 'venv'}")
        _run_logged([sys.executable, "-m", "venv", str(base / "venv")], log, "python -m venv")
        _progress(f"{name}: pip install {' '.join(spec.requirements)} (log: {log})")
        _run_logged(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", *spec.requirements],
            log,
            "pip install",
        )
        if spec.after_install is not None:
            spec.after_install(python, base)
        version = _query_version(spec, python)
        seconds = round(time.monotonic() - started, 1)
        stamp_data = {**wanted, "version": version, "install_seconds": seconds}
        (base / "installed.json").write_text(json.dumps(stamp_data, indent=2) + "\n")
        _progress(f"{name}: installed version {version} in {time.monotonic() - started:.1f}s")
        return python


def _query_version(spec: EmulatorSpec, python: Path) -> str:
    result = subprocess.run(
        [str(python), "-c", spec.version_code],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    if result.returncode != 0:
        raise EmulatorError(f"{spec.name}: cannot read its version:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def _installed_version(spec: EmulatorSpec, python: Path) -> str:
    stamp = _read_stamp(python.parent.parent.parent)
    version = stamp.get("version") if stamp else None
    return version if isinstance(version, str) and version else _query_version(spec, python)


# --------------------------------------------------------------------------------------------------
# Sockets and process groups
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Listener:
    """One listening socket as `ss` reports it."""

    protocol: str  # "tcp" or "udp"
    local: str  # the local address column, e.g. "127.0.0.1:4566", "*:8883", "[::]:53"
    pids: frozenset[int]

    @property
    def host(self) -> str:
        host = self.local.rsplit(":", 1)[0]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return host.split("%", 1)[0]  # drop an interface suffix such as 127.0.0.1%lo

    @property
    def is_loopback(self) -> bool:
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False  # "*" and anything unparsable count as every interface
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback


_PID_RE = re.compile(r"pid=(\d+)")


def parse_ss_listeners(output: str, default_protocol: str = "tcp") -> list[Listener]:
    """Parse `ss -l{t,u}npH` output; a leading Netid column (tcp/udp) is optional."""
    listeners: list[Listener] = []
    for line in output.splitlines():
        fields = line.split()
        if not fields:
            continue
        protocol = default_protocol
        if fields[0] in {"tcp", "udp", "tcp6", "udp6"}:
            protocol = fields.pop(0).rstrip("6")
        if len(fields) < 5:
            continue
        # State Recv-Q Send-Q Local Peer [Process]
        local, process = fields[3], " ".join(fields[5:])
        listeners.append(Listener(protocol, local, frozenset(int(p) for p in _PID_RE.findall(process))))
    return listeners


def _system_listeners() -> list[Listener]:
    ss = shutil.which("ss")
    if ss is None:
        raise EmulatorError("`ss` (Debian package iproute2) is needed to check where an emulator listens")
    found: list[Listener] = []
    for flag, protocol in (("-ltnpH", "tcp"), ("-lunpH", "udp")):
        result = subprocess.run([ss, flag], capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
        found.extend(parse_ss_listeners(result.stdout, protocol))
    return found


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgrp) of `pid`, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # comm may contain spaces and ')'
    return int(fields[1]), int(fields[2])


def process_group_pids(pgid: int, root_pid: int | None = None) -> set[int]:
    """Live PIDs in process group `pgid`, plus descendants of `root_pid` that left the group."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            table[int(entry)] = stat
    members = {pid for pid, (_ppid, pgrp) in table.items() if pgrp == pgid}
    if root_pid is not None and root_pid in table:
        frontier = {root_pid}
        while frontier:
            members |= frontier
            frontier = {pid for pid, (ppid, _pg) in table.items() if ppid in frontier} - members
    return members


def non_loopback(listeners: Sequence[Listener], pids: set[int]) -> list[Listener]:
    """The listeners owned by any of `pids` that are reachable from beyond loopback."""
    return [item for item in listeners if item.pids & pids and not item.is_loopback]


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _http(
    method: str,
    url: str,
    timeout: float = 2.0,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    if data is None and method == "POST":
        data = b""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    # Loopback only: no proxy from the environment may take these requests elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _load_prctl() -> Callable[..., int] | None:
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


# Resolved before any fork: the child must not go through the dynamic loader.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the launching thread dies without cleaning up (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _prune_run_dirs(runs: Path, keep: int = _KEEP_RUN_DIRS) -> None:
    if not runs.is_dir():
        return
    old = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)[: -keep or None]
    stale = time.time() - 86400  # an ".active" marker left by a killed launcher
    for path in old:
        marker = path / ".active"
        if not marker.exists() or marker.stat().st_mtime < stale:
            shutil.rmtree(path, ignore_errors=True)


_ACTIVE: set[RunningEmulator] = set()
_ACTIVE_LOCK = threading.Lock()


@dataclasses.dataclass(eq=False)
class RunningEmulator:
    """A started emulator. `stop()` ends its whole process group; it is safe to call twice."""

    name: str
    url: str
    port: int
    pid: int
    version: str
    log_path: Path
    run_dir: Path
    spec: EmulatorSpec = dataclasses.field(repr=False)
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False)

    def reset(self) -> bool:
        """Clear the emulator's state; False if it has no reset endpoint or the reset failed."""
        if self.spec.reset_path is None:
            return False
        status, _body = _http("POST", self.url + self.spec.reset_path, timeout=30.0)
        return status == 200

    def pids(self) -> set[int]:
        """The emulator's live processes: its process group, and descendants while the root is unreaped."""
        return process_group_pids(self.pid, self.pid if self.process.returncode is None else None)

    def listeners(self) -> list[Listener]:
        """The listening TCP/UDP sockets of the emulator's processes."""
        pids = self.pids()
        return [item for item in _system_listeners() if item.pids & pids]

    def check_loopback_only(self) -> list[Listener]:
        """Raise EmulatorError (after stopping it) if anything of it listens beyond loopback."""
        listeners = self.listeners()
        exposed = [item for item in listeners if not item.is_loopback]
        if exposed:
            self.stop()
            where = ", ".join(f"{item.protocol} {item.local}" for item in exposed)
            raise EmulatorError(f"{self.name} listened beyond loopback ({where}); it was stopped")
        return listeners

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = _STOP_GRACE_SECONDS) -> None:
        """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds."""
        try:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _progress(f"{self.name}: still running {grace:.0f}s after SIGTERM; sending SIGKILL")
            deadline = time.monotonic() + grace
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
            self._signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        finally:
            (self.run_dir / ".active").unlink(missing_ok=True)
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self)

    def _signal_group(self, signum: signal.Signals) -> None:
        # The group id is the PID of the process we started; while it is unreaped or any member is
        # alive, the kernel cannot hand that id to anyone else, so this only reaches our processes.
        # Descendants are looked up only while the root is unreaped, so its PID cannot be reused yet.
        strays = self.pids() - process_group_pids(self.pid) if self.process.returncode is None else set()
        if self.process.returncode is None or process_group_pids(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)
        for pid in strays:  # descendants that started a session of their own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def _stop_all_at_exit() -> None:
    with _ACTIVE_LOCK:
        leftovers = list(_ACTIVE)
    for emulator in leftovers:
        with contextlib.suppress(Exception):
            emulator.stop(grace=3.0)


atexit.register(_stop_all_at_exit)


def start(
    name: str,
    *,
    home: Path | str | None = None,
    port: int | None = None,
    ready_timeout: float | None = None,
) -> RunningEmulator:
    """Install if needed, start and wait for `name`; the caller must `stop()` it (prefer `running`)."""
    spec = _spec(name)
    python = ensure_installed(name, home)
    version = _installed_version(spec, python)
    chosen_port = port if port is not None else _free_port()
    runs = emulator_home(home) / name / "runs"
    _prune_run_dirs(runs)
    run_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{chosen_port}"
    for sub in ("tmp", "cache", "state"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    (run_dir / ".active").touch()
    if spec.before_run is not None:
        spec.before_run(emulator_home(home) / name, run_dir)
    log_path = run_dir / "emulator.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_", "MINISTACK_"))}
    env.update(spec.environment(chosen_port, run_dir))
    argv = spec.command(python, chosen_port, run_dir)
    _progress(f"{name} {version}: starting on 127.0.0.1:{chosen_port} (log: {log_path})")
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we stop exactly what we started
            preexec_fn=_die_with_parent,
        )
    emulator = RunningEmulator(
        name=name,
        url=f"http://127.0.0.1:{chosen_port}",
        port=chosen_port,
        pid=process.pid,
        version=version,
        log_path=log_path,
        run_dir=run_dir,
        spec=spec,
        process=process,
    )
    with _ACTIVE_LOCK:
        _ACTIVE.add(emulator)
    try:
        _wait_ready(emulator, ready_timeout if ready_timeout is not None else spec.ready_timeout)
        emulator.check_loopback_only()
    except BaseException:
        emulator.stop()
        raise
    _progress(f"{name}: ready in {time.monotonic() - started:.1f}s at {emulator.url} (pid {process.pid})")
    return emulator


# A KMS ListKeys as an SDK sends it; emulators route on the target header and the credential scope and
# do not check the signature. Answering it is the last step of "ready" (LocalStack, say, reports kms
# "running" before its first request has loaded the request routing).
_LIST_KEYS_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "TrentService.ListKeys",
    "X-Amz-Date": "20250101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/kms/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
}


def _kms_answers(url: str, timeout: float) -> tuple[bool, str]:
    status, body = _http("POST", url + "/", timeout=timeout, data=b"{}", headers=_LIST_KEYS_HEADERS)
    return status == 200, f"ListKeys HTTP {status}: {body[:200]!r}"


def _wait_ready(emulator: RunningEmulator, timeout: float) -> None:
    url = emulator.url + emulator.spec.health_path
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        code = emulator.process.poll()
        if code is not None:
            raise EmulatorError(
                f"{emulator.name} exited with code {code} before it was ready; "
                f"last lines of {emulator.log_path}:\n{_tail(emulator.log_path)}"
            )
        try:
            status, body = _http("GET", url)
            last = f"HTTP {status}: {body[:200]!r}"
            if emulator.spec.is_ready(status, body):
                remaining = max(deadline - time.monotonic(), 1.0)
                answered, last = _kms_answers(emulator.url, timeout=remaining)
                if answered:
                    return
        except (OSError, urllib.error.URLError) as error:
            last = str(error)
        if time.monotonic() >= deadline:
            raise EmulatorError(
                f"{emulator.name} not ready after {timeout:.0f}s (last probe of {url}: {last}); "
                f"last lines of {emulator.log_path}:\n{_tail(emulator.log_path)}"
            )
        time.sleep(0.2)


@contextlib.contextmanager
def running(
    name: str,
    *,
    home: Path | str | None = None,
    port: int | None = None,
    ready_timeout: float | None = None,
) -> Iterator[RunningEmulator]:
    """Start `name`, yield it, and stop it on exit however the body ends.

    On a clean exit the loopback check runs once more, since listeners may open lazily.
    """
    emulator = start(name, home=home, port=port, ready_timeout=ready_timeout)
    try:
        yield emulator
    except BaseException:
        emulator.stop()
        raise
    try:
        if emulator.alive():
            emulator.check_loopback_only()
    finally:
        emulator.stop()


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def _raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so context managers stop the emulator."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def command_environment(emulator: RunningEmulator, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment `run` gives its command: endpoint, implementation, dummy credentials."""
    env = dict(os.environ if base is None else base)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(key, None)
    env.update(
        {
            "AWS_ENDPOINT_URL_KMS": emulator.url,
            "KMS_CONFORMANCE_IMPLEMENTATION": emulator.name,
            "KMS_CONFORMANCE_IMPLEMENTATION_VERSION": emulator.version,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m conformance.emulators`."""
    parser = argparse.ArgumentParser(prog="python -m conformance.emulators", description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--home", type=Path, default=None, help=f"cache dir (default ${HOME_ENV}, else <repo>/.emulators)"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    install_parser = sub.add_parser("install", help="create the venv and install into it")
    install_parser.add_argument("name", choices=sorted(EMULATORS))
    start_parser = sub.add_parser("start", help="run in the foreground until Ctrl-C or SIGTERM")
    start_parser.add_argument("name", choices=sorted(EMULATORS))
    run_parser = sub.add_parser("run", help="start, run a command against it, stop; exit with its code")
    run_parser.add_argument("name", choices=sorted(EMULATORS))
    for each in (start_parser, run_parser):
        each.add_argument("--port", type=int, default=None)
        each.add_argument("--ready-timeout", type=float, default=None)
    run_parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)

    try:
        if args.action == "install":
            python = ensure_installed(args.name, args.home)
            print(f"{args.name} {_installed_version(_spec(args.name), python)}: {python}")
            return 0
        _raise_on_sigterm()
        if args.action == "start":
            with running(args.name, home=args.home, port=args.port, ready_timeout=args.ready_timeout) as emu:
                print(f"{emu.name} {emu.version} at {emu.url} (pid {emu.pid})", flush=True)
                print(f"log: {emu.log_path}", flush=True)
                print("Ctrl-C to stop", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while emu.alive():
                        time.sleep(0.5)
                if not emu.alive():
                    _progress(f"{emu.name} exited by itself; last lines:\n{_tail(emu.log_path)}")
                    return 1
            return 0
        command = list(args.command)
        if command[:1] == ["--"]:
            command = command[1:]
        if not command:
            parser.error("run needs a command after --")
        with running(args.name, home=args.home, port=args.port, ready_timeout=args.ready_timeout) as emu:
            result = subprocess.run(command, env=command_environment(emu))
        return result.returncode
    except EmulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
