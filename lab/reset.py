"""`lab reset`: the running lab back to how `make up` left it, in seconds, without
rebuilding or recreating anything: stopped services started, cables reconnected, both
customers dialled in, the providers' configuration written again from .env, queues and
mailboxes emptied, shell histories cleared, and a new journal, so that `lab check`
looks only at what happens from now on.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from lab import access, dnszones, netseal
from lab.compose import Lab, LabError
from lab.config import INTERNET, PROVIDER_B, PROVIDERS, SERVICES, SHELL_HISTORY
from lab.i18n import _
from lab.journal import Journal


def reset(lab: Lab, say: Callable[[str], None] = print) -> None:
    """Reset the lab, telling `say` each stage (a marked sentence: lab/i18n.py)."""
    missing = [s for s in SERVICES if s not in lab.containers()]
    if missing:
        raise LabError(_("the lab is not running ({services} missing): start it with `make up`").format(
            services=", ".join(missing)))
    stopped = [s for s, state in lab.states().items() if state in ("created", "exited", "dead", "paused")]
    say(_("  emptying the queues first: nothing held back may be delivered while the lab comes back"))
    for p in PROVIDERS:
        if p.service not in stopped:
            lab.run(p.service, "postsuper", "-d", "ALL")
    if stopped:
        say(_("  starting {services}").format(services=", ".join(stopped)))
        lab.start(*stopped)
    say(_("  reconnecting every cable: B to the internet, X and Y to their providers"))
    access.connect(lab, PROVIDER_B.service, INTERNET)
    for who in access.CUSTOMERS:
        access.dial(lab, who)
    lab.wait_healthy(timeout=60)  # an offline client is unhealthy: wait only now
    say(_("  providers' settings back to .env; queues (again: a stopped one has just started),\n"
          "  mailboxes and shell histories emptied"))
    scripts = {service: f": > {SHELL_HISTORY}" for service in SERVICES}
    for p in PROVIDERS:
        users = " ".join(a.address for a in p.accounts)
        scripts[p.service] += (f"; configure --reload --fresh && postsuper -d ALL 2>/dev/null"
                               f"; for u in {users}; do doveadm expunge -u $u mailbox INBOX all; done")
    dnszones.write(lab.settings, lab.settings.dmarc)  # DMARC_POLICY from .env again
    scripts["dns"] += "; load-zones --reload"
    with ThreadPoolExecutor(len(scripts) + len(PROVIDERS)) as pool:  # all at once
        done = [pool.submit(lab.run, service, "sh", "-ec", script) for service, script in scripts.items()]
        done += [pool.submit(netseal.reset_op25b, lab, p) for p in PROVIDERS]
        for future in done:
            future.result()
    lab.flush_resolvers()  # now that the DNS serves .env's zones again
    Journal(lab.settings).start_over()
