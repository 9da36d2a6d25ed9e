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


def docker_fed(*args: str, input: bytes, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """`docker ARGS...` with `input` on its stdin (`docker run -i`, `docker exec -i`),
    its exit status and output as they are, for the caller to judge."""
    return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout)


def become(*args: str) -> NoReturn:
    """Replace this process with `docker ARGS...`, for an interactive terminal (a
    shell, a capture): the user's keys and Ctrl-C go to Docker directly."""
    os.execvp("docker", ["docker", *args])
