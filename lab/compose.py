"""Drive one lab, a Compose project, from the host: build, up, wait for health, down.

The same code serves `make up`, `make test` (an isolated copy under its own project
name) and the test fixtures. Containers are found by Compose's labels, which Compose v1
(`docker-compose`) and v2 (`docker compose`) both set. Standard library only.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from lab import dnszones, netseal, overrides, tls
from lab.composeenv import compose_env, write_compose_env
from lab.config import (
    BASE_IMAGE,
    IMAGES,
    PROVIDERS,
    PUBLISHED_PORTS,
    REPO,
    SERVICES,
    Provider,
    Settings,
)
from lab.docker import LabError, docker, docker_exec, images_present, logs_command
from lab.docker import logs as docker_logs
from lab.i18n import _
from lab.text import printable

COMPOSE_FILE = REPO / "compose.yaml"
PORTS_FILE = REPO / "compose.ports.yaml"  # added when PUBLISH_PORTS=on
# Printed by every container once it serves (images/common/lab-ready).
READY_LINE = "maillab: ready"
BASE_IMAGE_SCRIPT = REPO / "images" / "base" / "build-base-image.sh"
HEALTH_TIMEOUT = float(os.environ.get("LAB_HEALTH_TIMEOUT", "120"))


@cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` (v2) where it exists, else `docker-compose` (v1); $COMPOSE wins."""
    if os.environ.get("COMPOSE"):
        return tuple(shlex.split(os.environ["COMPOSE"]))
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if v2.returncode == 0:
        return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise LabError(_("neither `docker compose` nor `docker-compose` is installed"))


# Compose commands after which the project's containers may have other ids.
_RECREATING = ("up", "down", "rm", "create", "run")


class Lab:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = settings.project
        self._ids: dict[str, str] = {}  # service -> container id, as last listed

    # --- compose --------------------------------------------------------------------

    def compose(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
        env_file = write_compose_env(self.settings)
        files = [COMPOSE_FILE, *([PORTS_FILE] if self.settings.publish_ports else [])]
        command = [
            *compose_command(), "-p", self.project, "--env-file", str(env_file),
            *(arg for f in files for arg in ("-f", str(f))), *args,
        ]
        if args[0] in _RECREATING:
            self._ids = {}
        # Compose takes a variable from the process environment before the env file: a
        # setting given as `INTERNET_SUBNET=... make up` must reach it as derived (LAB_ID
        # applied), so the derived values go into the environment as well.
        environ = {**os.environ, **compose_env(self.settings)}
        done = subprocess.run(command, text=True, capture_output=capture, env=environ)
        if done.returncode != 0:
            failed = shlex.join(command[:1] + command[-len(args):])
            if capture:  # Compose's own words, as it said them
                raise LabError(_("`{command}` failed: {said}").format(command=failed,
                                                                      said=done.stderr.strip()))
            raise LabError(_("`{command}` failed").format(command=failed))
        return done

    def build(self) -> None:
        ensure_base_image()
        self.compose("build")

    def up(self, timeout: float = HEALTH_TIMEOUT, quiet: bool = False) -> float:
        """Start (or keep) every service and wait until all are healthy; seconds taken.
        quiet: Compose's progress is not shown (labs started side by side)."""
        started = time.monotonic()
        if missing_images():
            self.build()  # explicitly: Compose v2 might otherwise try to pull them
        self.check_ports_free()
        # New certificates (a CA made again, say) reach running containers only anew.
        renewed = ["--force-recreate"] if tls.ensure_certificates() else []
        dnszones.write(self.settings, self.settings.dmarc)
        overrides.ensure_folders(self.settings)
        before = self._running_since()
        self.compose("up", "-d", "--remove-orphans", *renewed, capture=quiet)
        self.seal()
        self.wait_healthy(timeout)
        # What started now read the new zones and has an empty cache; what kept running
        # through the up must reload them (the DNS) or forget old answers (resolvers).
        kept = {s for s, since in self._running_since().items() if before.get(s) == since}
        if "dns" in kept:
            self.run("dns", "load-zones", "--reload")
        self.flush_resolvers([p for p in PROVIDERS if p.service in kept])
        return time.monotonic() - started

    def _running_since(self) -> dict[str, tuple[str, str]]:
        """service -> (container, when it started), for the running ones."""
        return {service: (c["Id"], c["State"]["StartedAt"])
                for service, c in self._inspect().items() if c["State"]["Running"]}

    def flush_resolvers(self, providers: Iterable[Provider] = PROVIDERS) -> None:
        """Empty the providers' caching resolvers, as if every TTL had run out (after the
        zones changed, or the DNS came back)."""
        with ThreadPoolExecutor(len(PROVIDERS)) as pool:
            list(pool.map(lambda p: self.run(p.service, "resolver", "flush"), providers))

    def stop(self, *services: str) -> None:
        """Stop services' containers (as `compose stop`, without starting Compose)."""
        docker("stop", *(self.container(s) for s in services))

    def start(self, *services: str) -> None:
        """Start services' stopped containers again (as `compose start`), and seal them."""
        docker("start", *(self.container(s) for s in services))
        self.seal(services)

    def recreate(self, service: str, timeout: float = 60) -> None:
        """A new container for one service (its volumes kept), sealed and healthy."""
        self.compose("rm", "--stop", "--force", service, capture=True)
        self.compose("up", "-d", "--no-deps", service, capture=True)
        self.seal([service])
        self.wait_healthy(timeout, services=(service,))

    def seal(self, services: Iterable[str] | None = None) -> None:
        """Seal the running containers' networks (all of them, or these): each waits,
        with nothing of the lab running, until it is sealed (lab/netseal.py)."""
        running = {s for s, c in self._inspect().items() if c["State"]["Running"]}
        netseal.seal(self, [s for s in (services or SERVICES) if s in running])

    def down(self, volumes: bool = False, quiet: bool = False) -> None:
        self.compose("down", "--remove-orphans", *(["--volumes"] if volumes else []), capture=quiet)

    def check_ports_free(self) -> None:
        """Every host port this lab publishes is free, or already this lab's: else say
        which, and what moves it, before anything starts (Docker would fail half-way,
        leaving some containers running and others only created)."""
        if not self.settings.publish_ports:
            return
        running = {s for s, state in self.states().items() if state not in ("exited", "dead", "created")}
        for provider in (p for p in PROVIDERS if p.service not in running):  # a running one's are its own
            for port in PUBLISHED_PORTS:
                host_port = self.settings.host_port(provider, port)
                if _taken(host_port):
                    raise LabError(_(
                        "port 127.0.0.1:{host_port} ({service}'s {port}) is already in use on "
                        "this machine; nothing was started. Free it, or move this lab's ports with "
                        "HOST_PORT_BASE or LAB_ID in .env, or set PUBLISH_PORTS=off (no host ports at "
                        "all)").format(host_port=host_port, service=provider.service, port=port))

    # --- containers -----------------------------------------------------------------

    def run(self, service: str, *args: str) -> str:
        """Run a command in a service's container; its output, or LabError saying why not."""
        done = docker_exec(self.container(service), list(args))
        if done.returncode != 0:
            raise LabError(f"{service}: {' '.join(args)}: {done.stderr.decode().strip()}")
        return done.stdout.decode()

    def containers(self) -> dict[str, str]:
        """service -> container id, for the containers of this project (running or not)."""
        out = docker(
            "ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
            "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}',
        )
        self._ids = {svc: cid for cid, svc in (line.split() for line in out.splitlines())}
        return dict(self._ids)

    def container(self, service: str) -> str:
        """The id of a service's container: listed once, again only after a recreation."""
        if service in self._ids:
            return self._ids[service]
        try:
            return self.containers()[service]
        except KeyError:
            raise LabError(_("{service} is not running in lab {project}: run `make up`").format(
                service=service, project=self.project)) from None

    def _inspect(self) -> dict[str, dict]:
        """service -> `docker inspect` of its container, for this project's containers."""
        ids = self.containers()
        if not ids:
            return {}
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c
                for c in json.loads(docker("inspect", *ids.values()))}

    def networks(self) -> dict[str, list[str]]:
        """service -> the lab networks its container is on now (without the project prefix)."""
        return {service: [n.removeprefix(f"{self.project}_")
                          for n in c["NetworkSettings"].get("Networks") or {}]
                for service, c in self._inspect().items()}

    def states(self) -> dict[str, str]:
        """service -> "healthy", "starting", "exited", "paused", ... (missing: absent).

        A running container is healthy once it printed READY_LINE since it (last)
        started: the lab has no periodic health checks (see compose.yaml).
        """
        containers = self._inspect()
        with ThreadPoolExecutor(max(1, len(containers))) as pool:
            ready = dict(zip(containers, pool.map(_said_ready, containers.values())))
        states = {}
        for service, c in containers.items():
            state = c["State"]
            if not state["Running"] or state["Paused"]:
                states[service] = state["Status"]
            else:
                states[service] = "healthy" if ready[service] else "starting"
        return states

    def wait_healthy(self, timeout: float, services: tuple[str, ...] = SERVICES) -> None:
        """Wait until `services` (all of them, by default) are healthy; fail fast on exits.
        A starting container's log is followed, so its ready line is seen at once."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            starting = [s for s in services if states.get(s) == "starting"]
            others = [s for s in services if s not in starting]
            if all(states.get(s) == "healthy" for s in others) and starting and time.monotonic() < deadline:
                info = self._inspect()
                if _follow_until_ready([info[s] for s in starting], deadline):
                    return
                continue  # one stopped, or the time ran out: the checks below say which
            if all(states.get(s) == "healthy" for s in services):
                return
            dead = [s for s in services if states.get(s) in ("exited", "dead")]
            if dead or time.monotonic() > deadline:
                waiting = dead or [s for s in services if states.get(s) != "healthy"]
                for service in waiting:
                    sys.stderr.write(self.logs(service, tail=30))
                sick = ", ".join(f"{s} ({states.get(s, 'missing')})" for s in waiting)
                raise LabError(_("not healthy after {seconds} s: {services} (their last log lines are "
                                 "above)").format(seconds=f"{timeout:.0f}", services=sick))
            time.sleep(0.1)

    def logs(self, service: str, tail: int | None = None) -> str:
        cid = self.containers().get(service)
        if not cid:
            return f"--- {service}: no container\n"
        done = docker_logs(cid, tail=tail)
        return printable(f"--- {service} ---\n{done.stdout}{done.stderr}")  # anyone may write to it


def _taken(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (a port in TIME_WAIT after a recent
    lab is free: SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


_READY: set[tuple[str, str]] = set()  # (container id, start time) seen ready


def _said_ready(c: dict) -> bool:
    """Whether a running container printed READY_LINE since it (last) started (or, its
    log rotated past that line, left lab-ready's file: images/common/lab-ready)."""
    key = (c["Id"], c["State"]["StartedAt"])
    if key not in _READY and c["State"]["Running"]:
        done = docker_logs(key[0], since=key[1])
        if READY_LINE in done.stdout or docker_exec(key[0], ["test", "-e", "/run/lab-ready"]).returncode == 0:
            _READY.add(key)
    return key in _READY


def _follow_until_ready(containers: list[dict], deadline: float) -> bool:
    """Follow each container's log from its start until it prints READY_LINE; True if
    all of them did before the deadline (False: one stopped, or time ran out)."""
    def follow(c: dict) -> bool:
        follower = subprocess.Popen(
            logs_command(c["Id"], since=c["State"]["StartedAt"], follow=True),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace")
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), follower.kill)
        timer.start()
        try:
            return any(READY_LINE in line for line in follower.stdout)  # type: ignore[union-attr]
        finally:
            timer.cancel()
            follower.kill()
            follower.wait()

    with ThreadPoolExecutor(len(containers)) as pool:
        return all(pool.map(follow, containers))


def missing_images() -> list[str]:
    """The lab's images that are not on this machine."""
    names = sorted(IMAGES.values())
    if images_present(*names):
        return []  # the usual case, in one call
    return [n for n in names if not images_present(n)]


def ensure_base_image() -> None:
    """The base image: pulled, or built from Debian's packages when no registry has it."""
    if images_present(BASE_IMAGE):
        return
    if subprocess.run(["bash", str(BASE_IMAGE_SCRIPT)]).returncode != 0:
        raise LabError(_("could not get {image} (see the messages above)").format(image=BASE_IMAGE))

