"""Drive one lab, a Compose project, from the host: build, up, wait for health, down.

The same code serves `make up`, `make test` (an isolated copy under its own project
name) and the test fixtures. Containers are found by Compose's labels, which Compose v1
(`docker-compose`) and v2 (`docker compose`) both set. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from functools import cache

from lab import tls
from lab.config import REPO, SERVICES, Settings, write_compose_env

COMPOSE_FILE = REPO / "compose.yaml"
BASE_IMAGE_SCRIPT = REPO / "images" / "base" / "build-base-image.sh"
HEALTH_TIMEOUT = float(os.environ.get("LAB_HEALTH_TIMEOUT", "120"))


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says what to do next."""


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
    raise LabError("neither `docker compose` nor `docker-compose` is installed")


def docker_exec(container: str, args: list[str] | tuple[str, ...], input: bytes | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run a command in a container (stdin from `input`), without a terminal."""
    command = ["docker", "exec", *(["-i"] if input is not None else []), container, *args]
    return subprocess.run(command, input=input, capture_output=True, timeout=timeout)


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class Lab:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = settings.project

    # --- compose --------------------------------------------------------------------

    def compose(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
        env_file = write_compose_env(self.settings)
        command = [
            *compose_command(), "-p", self.project, "--env-file", str(env_file),
            "-f", str(COMPOSE_FILE), *args,
        ]
        done = subprocess.run(command, text=True, capture_output=capture)
        if done.returncode != 0:
            detail = f": {done.stderr.strip()}" if capture else ""
            raise LabError(f"`{shlex.join(command[:1] + command[-len(args):])}` failed{detail}")
        return done

    def build(self) -> None:
        ensure_base_image()
        self.compose("build")

    def up(self, timeout: float = HEALTH_TIMEOUT) -> float:
        """Start (or keep) every service and wait until all are healthy; seconds taken."""
        started = time.monotonic()
        if missing_images():
            self.build()  # explicitly: Compose v2 might otherwise try to pull them
        tls.ensure_certificates()
        self.compose("up", "-d", "--remove-orphans")
        self.wait_healthy(timeout)
        return time.monotonic() - started

    def down(self, volumes: bool = False) -> None:
        self.compose("down", "--remove-orphans", *(["--volumes"] if volumes else []))

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
        return {svc: cid for cid, svc in (line.split() for line in out.splitlines())}

    def container(self, service: str) -> str:
        try:
            return self.containers()[service]
        except KeyError:
            raise LabError(f"{service} is not running in lab {self.project}: run `make up`") from None

    def states(self) -> dict[str, str]:
        """service -> "healthy", "starting", "unhealthy", "exited", ... (missing: absent)."""
        ids = self.containers()
        if not ids:
            return {}
        info = json.loads(docker("inspect", *ids.values()))
        states = {}
        for c in info:
            service = c["Config"]["Labels"]["com.docker.compose.service"]
            state = c["State"]
            healthy = state["Running"] and "Health" in state
            states[service] = state["Health"]["Status"] if healthy else state["Status"]
        return states

    def wait_healthy(self, timeout: float, services: tuple[str, ...] = SERVICES) -> None:
        """Wait until `services` (all of them, by default) are healthy; fail fast on exits."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            if all(states.get(s) == "healthy" for s in services):
                return
            dead = [s for s in services if states.get(s) in ("exited", "dead")]
            if dead or time.monotonic() > deadline:
                waiting = dead or [s for s in services if states.get(s) != "healthy"]
                for service in waiting:
                    sys.stderr.write(self.logs(service, tail=30))
                raise LabError(
                    f"not healthy after {timeout:.0f} s: "
                    + ", ".join(f"{s} ({states.get(s, 'missing')})" for s in waiting)
                    + " (their last log lines are above)"
                )
            time.sleep(0.25)

    def logs(self, service: str, tail: int | None = None) -> str:
        cid = self.containers().get(service)
        if not cid:
            return f"--- {service}: no container\n"
        args = ["logs", *(["--tail", str(tail)] if tail else []), cid]
        done = subprocess.run(["docker", *args], capture_output=True, text=True)
        return f"--- {service} ---\n{done.stdout}{done.stderr}"


def missing_images() -> list[str]:
    """The lab's images (as compose.yaml names them) that are not on this machine."""
    names = sorted(set(re.findall(r"^\s+image: (\S+)$", COMPOSE_FILE.read_text(), re.MULTILINE)))
    return [n for n in names
            if subprocess.run(["docker", "image", "inspect", n], capture_output=True).returncode]


def ensure_base_image() -> None:
    """debian:bookworm-slim: pulled, or built from Debian's packages when no registry has it."""
    present = subprocess.run(["docker", "image", "inspect", "debian:bookworm-slim"], capture_output=True)
    if present.returncode == 0:
        return
    if subprocess.run(["bash", str(BASE_IMAGE_SCRIPT)]).returncode != 0:
        raise LabError("could not get debian:bookworm-slim (see the messages above)")

