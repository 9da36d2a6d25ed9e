"""`lab bench` (make bench)."""

from __future__ import annotations

import argparse

from lab.commands import Exit, command
from lab.compose import Lab


@command("bench")
def bench(lab: Lab, args: argparse.Namespace) -> Exit:
    """measure start-up, idle cost, latency, throughput, recovery, memory, the suite (make bench)"""
    from lab import bench as benchmark  # only here: the rest of the CLI does not need it

    print(benchmark.table(benchmark.run()))
    return Exit.OK
