"""Docker, called from one place: every `docker` command the lab runs goes through here.

Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
from contextlib import suppress
from dataclasses import dataclass
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


# --- terminals (the web workspace) ------------------------------------------------------
# `docker exec -it` needs a terminal of its own on this side: each terminal of the web
# workspace is a pseudo-terminal here, whose other end the page draws. The Docker CLI
# puts it in raw mode and passes every byte to the terminal Docker makes in the
# container, where bash runs exactly as `make shell` runs it (its history included).


@dataclass
class Pty:
    """A program on a pseudo-terminal: `fd` is our end (what it prints, what it reads)."""

    process: subprocess.Popen[bytes]
    fd: int

    def resize(self, rows: int, cols: int) -> None:
        """Tell the terminal its new size. The Docker CLI reads its terminal's size again
        on SIGWINCH and passes it to the container's terminal; the kernel sends that
        signal only to a terminal's controlling session, which this program need not be
        (it gets none: no process of ours runs code between fork and exec), so it is
        sent here."""
        _set_size(self.fd, rows, cols)
        with suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGWINCH)

    def end(self) -> None:
        """Kill the program and everything it started here (its own session), at once."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(OSError):
            os.close(self.fd)
        self.process.wait()


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def spawn_pty(argv: list[str], rows: int, cols: int, env: dict[str, str] | None = None) -> Pty:
    """Start `argv` (a list: no shell reads it) on a new pseudo-terminal of that size, in
    a session of its own; our end is non-blocking."""
    ours, theirs = os.openpty()
    try:
        _set_size(theirs, rows, cols)
        process = subprocess.Popen(argv, stdin=theirs, stdout=theirs, stderr=theirs, env=env,
                                   start_new_session=True, close_fds=True)
    except BaseException:
        os.close(ours)
        raise
    finally:
        os.close(theirs)
    os.set_blocking(ours, False)
    return Pty(process, ours)


def read_pty(fd: int, size: int) -> bytes:
    """What the program printed (b"" once it has ended: Linux answers EIO then)."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        raise
    except OSError:
        return b""


def write_pty(fd: int, data: bytes) -> int:
    """Type `data` (as much as the terminal takes now; BlockingIOError: none)."""
    return os.write(fd, data)


def exec_pty(container: str, command: list[str], rows: int, cols: int, token: str,
             user: str | None = None) -> Pty:
    """`docker exec -it` of `command` in a container, on a new pseudo-terminal. `token`
    (ours, never a user's) is put in the environment of the program, so that
    end_in_container() finds it and what it started: killing the Docker CLI ends
    nothing in the container (moby#9098)."""
    argv = ["docker", "exec", "-it", "-e", "TERM=xterm-256color", "-e", f"{TERMINAL_TOKEN}={token}",
            *(["-u", user] if user else []), container, *command]
    return spawn_pty(argv, rows, cols)


TERMINAL_TOKEN = "MAILLAB_TERMINAL"
# Run by bash in the container (every lab image has it; bash's builtins and sleep): hang up
# every process whose environment holds one of the tokens (an interactive bash passes
# the hangup to its jobs, as when a modem line dropped), then kill what is left.
_END_TERMINALS = r"""
found=()
for dir in /proc/[0-9]*; do
  mapfile -d '' -t vars < "$dir/environ" 2>/dev/null || continue
  for var in "${vars[@]}"; do
    for token in "$@"; do
      [ "$var" = "MAILLAB_TERMINAL=$token" ] && found+=("${dir#/proc/}")
    done
  done
done
[ ${#found[@]} -eq 0 ] && exit 0
kill -HUP "${found[@]}" 2>/dev/null
for _ in 1 2 3 4 5; do
  alive=()
  for pid in "${found[@]}"; do [ -d "/proc/$pid" ] && alive+=("$pid"); done
  [ ${#alive[@]} -eq 0 ] && exit 0
  sleep 0.1
done
kill -KILL "${alive[@]}" 2>/dev/null
exit 0
"""


def end_in_container(container: str, tokens: list[str]) -> subprocess.Popen[bytes]:
    """Start ending the terminals of these tokens in a container (root's exec: it may
    signal any user's processes); the caller waits, or not."""
    return subprocess.Popen(["docker", "exec", container, "bash", "-c", _END_TERMINALS, "end", *tokens],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
