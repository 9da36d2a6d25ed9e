"""Docker, called from one place: every `docker` command the lab runs goes through here.

Standard library only.
"""

from __future__ import annotations

import os
import subprocess
from typing import NoReturn


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says what to do next."""


def docker(*args: str, check: bool = True) -> str:
    """Run `docker ARGS...`; its output, or LabError with Docker's own words."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def docker_exec(container: str, args: list[str] | tuple[str, ...], input: bytes | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run a command in a container (stdin from `input`), without a terminal."""
    command = ["docker", "exec", *(["-i"] if input is not None else []), container, *args]
    return subprocess.run(command, input=input, capture_output=True, timeout=timeout)


def logs_command(container: str, since: str | float | None = None, tail: int | None = None,
                 timestamps: bool = False, follow: bool = False) -> list[str]:
    """The one way the lab reads a container's output: `docker logs` with these options
    (since: seconds since the epoch, or Docker's RFC 3339 form)."""
    if isinstance(since, float):
        since = f"{since:.6f}"
    return ["docker", "logs", *(["--follow"] if follow else []), *(["--timestamps"] if timestamps else []),
            *(["--since", since] if since else []), *(["--tail", str(tail)] if tail else []), container]


def logs(container: str, since: str | float | None = None, tail: int | None = None,
         timestamps: bool = False) -> subprocess.CompletedProcess[str]:
    """A container's output so far (stdout and stderr, as Docker keeps them)."""
    return subprocess.run(logs_command(container, since, tail, timestamps), capture_output=True, text=True,
                          errors="replace")


# Docker's events about containers and networks, one JSON object a line (the web view)
EVENTS = ["docker", "events", "--format", "{{json .}}", "--filter", "type=container",
          "--filter", "type=network"]


def images_present(*names: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", *names], capture_output=True).returncode == 0


def docker_fed(*args: str, input: bytes, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """`docker ARGS...` with `input` on its stdin (`docker run -i`, `docker exec -i`),
    its exit status and output as they are, for the caller to judge."""
    return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout)


def exec_command(container: str, *args: str, stdin: bool = False) -> list[str]:
    """`docker exec` of a command in a container, for a caller that streams its output
    (a load that reports as it goes): the argv to start."""
    return ["docker", "exec", *(["-i"] if stdin else []), container, *args]


def become(*args: str) -> NoReturn:
    """Replace this process with `docker ARGS...`, for an interactive terminal (a
    shell, a capture): the user's keys and Ctrl-C go to Docker directly."""
    os.execvp("docker", ["docker", *args])
