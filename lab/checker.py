"""`lab check N`: an exercise's steps, each checked against the live lab.

An exercise's `check.py` lists its STEPS: what the learner does, a test that reads the
lab's real state through `Evidence` (logs, mailboxes, queues, configuration, the shell
histories, the journal of `lab` commands), and a hint for when it is not done yet.
A test returns `passed(...)` or `failed(...)` with what it saw; a learner's mistake is
a failed step with a reason, never a crash.

Titles, hints and details are marked sentences (lab/i18n.py): written in English, shown
in the language `run_steps` is given; what the lab itself said (a server's reply, a log
line, a typed command) goes into them as a value, verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

from lab import access, config, i18n, maillog, overrides, switches
from lab.compose import Lab, LabError, docker_exec
from lab.config import SERVICES, SHELL_HISTORY
from lab.i18n import _, ngettext
from lab.journal import Entry, Journal
from lab.mailbox import (  # noqa: F401 (the checks read mailboxes with these, as checker.NAME)
    auth_results,
    count_mailbox,
    header_block,
    mailbox_service,
    message_ids,
    read_mailbox,
)


@dataclass(frozen=True)
class Result:
    ok: bool
    detail: str  # what was seen: on failure, the actual against the expected


def passed(detail: str = "") -> Result:
    return Result(True, detail)


def failed(detail: str) -> Result:
    return Result(False, detail)


@dataclass(frozen=True)
class Step:
    title: str  # what the learner has done when it passes, e.g. "X asked for B's MX"
    test: Callable[[Evidence], Result]
    hint: str  # what to do next when it fails
    # The step is about settings of the admin's own (exercise 16): its failure gets no
    # note that such settings may be why.
    sandbox: bool = False


class Evidence:
    """What the lab shows now, and what happened since the last `lab reset`.

    One Evidence serves one `lab check` run: logs and files are read once, and cached.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.settings = lab.settings
        self.journal = Journal(lab.settings)
        self.since = self.journal.since
        self._containers = lab.containers()
        # cache per instance: functools.cache on methods would outlive the run
        self.log = cache(self._log)
        self.history = cache(self._history)

    def container(self, service: str) -> str:
        if service not in self._containers:
            raise LabError(_("{service} is not running: start the lab with `make "
                             "up`").format(service=service))
        return self._containers[service]

    def run(self, service: str, *args: str) -> str:
        done = docker_exec(self.container(service), list(args))
        return done.stdout.decode(errors="replace")

    # --- logs ----------------------------------------------------------------------------

    def _log(self, service: str) -> tuple[maillog.LogLine, ...]:
        return tuple(maillog.read(self.container(service), self.since))

    def messages(self, service: str) -> list[maillog.Message]:
        return list(maillog.messages(list(self.log(service))).values())

    def rejects(self, service: str) -> list[maillog.Reject]:
        return maillog.rejects(list(self.log(service)))

    def mailbox_events(self, service: str, user: str | None = None,
                       event: str | None = None) -> list[maillog.MailboxEvent]:
        return [e for e in maillog.mailbox_events(list(self.log(service)))
                if (user is None or e.user == user) and (event is None or e.event == event)]

    def greylist_decisions(self, service: str) -> list[maillog.GreylistDecision]:
        return maillog.greylist_decisions(list(self.log(service)))

    def pop_sessions(self, service: str, user: str | None = None) -> list[maillog.ReadSession]:
        return self.read_sessions(service, user, "pop3")

    def imap_sessions(self, service: str, user: str | None = None) -> list[maillog.ReadSession]:
        return self.read_sessions(service, user, "imap")

    def read_sessions(self, service: str, user: str | None, protocol: str) -> list[maillog.ReadSession]:
        return [s for s in maillog.read_sessions(list(self.log(service)), protocol)
                if user is None or s.user == user]

    def submitted_by(self, address: str) -> list[maillog.Message]:
        """Messages the account handed to its provider on the submission port."""
        provider = mailbox_service(address)
        return [m for m in self.messages(provider) if m.sasl_user == address]

    # --- the containers' state -----------------------------------------------------------

    def _history(self, service: str) -> tuple[tuple[float, str], ...]:
        """(time, command) typed in the service's shells since the last reset."""
        out = self.run(service, "cat", SHELL_HISTORY)
        found, when = [], 0.0
        for line in out.splitlines():
            if re.fullmatch(r"#\d{9,}", line):
                when = float(line[1:])
            elif line.strip() and (self.since is None or when >= int(self.since)):
                found.append((when, line))
        return tuple(found)

    def typed(self, service: str, pattern: str) -> list[str]:
        """Commands typed in `service` that match `pattern` (a regular expression)."""
        return [cmd for _, cmd in self.typed_at(service, pattern)]

    def typed_at(self, service: str, pattern: str) -> list[tuple[float, str]]:
        """(time, command) typed in `service` that match `pattern`."""
        regex = re.compile(pattern, re.IGNORECASE)
        return [(when, cmd) for when, cmd in self.history(service) if regex.search(cmd)]

    def mailbox(self, address: str) -> list[bytes]:
        """The messages in an account's INBOX now."""
        return read_mailbox(self.container(mailbox_service(address)), address)

    def postconf(self, service: str, name: str) -> str:
        return self.run(service, "postconf", "-h", name).strip()

    @cached_property
    def states(self) -> dict[str, str]:
        return self.lab.states()

    @cached_property
    def switches(self) -> dict[str, switches.ProviderSwitches]:
        """Each provider's lab switches now (op25b, greylist, quota-full...)."""
        return switches.state(self.lab)

    def online(self, who: str) -> bool:
        return access.is_online(self.lab, who)

    def events(self, kind: str) -> list[Entry]:
        return self.journal.entries(kind)


def spans(starts: list[float], ends: list[float]) -> list[tuple[float, float]]:
    """(start, the first end after it) for each start; no end yet: it lasts (inf). The
    times a switch was on, from the journal's times of turning it on and off."""
    return [(start, min((t for t in ends if t > start), default=float("inf"))) for start in starts]


# --- running a check ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    step: Step
    result: Result
    language: str = i18n.SOURCE  # the language the check was run in: title, detail, hint

    @property
    def title(self) -> str:
        return i18n.render(self.step.title, self.language)

    @property
    def detail(self) -> str:
        return i18n.render(self.result.detail, self.language)

    @property
    def hint(self) -> str:
        return i18n.render(self.step.hint, self.language)


def run_steps(lab: Lab, steps: list[Step], report: Callable[[int, Outcome], None],
              language: str | None = None) -> list[Outcome]:
    """Check each step in order, reporting each as soon as it is known. `language`
    (`i18n.choose`: a page's language, --ja, LANG) is the one each Outcome's title,
    detail and hint are given in; by default the current one (`i18n.use`). A step that
    fails while a provider runs with settings of the admin's own says so: the exercises
    were written for the lab's settings, and one of those may be why (not a step about
    those settings: Step.sandbox)."""
    language = language or i18n.current()
    outcomes = []
    with i18n.use(language):
        evidence = Evidence(lab)
        own: str | None = None  # asked at the first failure
        for number, step in enumerate(steps, 1):
            try:
                result = step.test(evidence)
            except LabError as err:
                result = failed(i18n.message(err))
            if not result.ok and own is None and not step.sandbox:
                own = own_settings_note(lab.settings) if lab is not None else ""
            if not result.ok and own and not step.sandbox:
                result = failed(f"{result.detail}\n{own}")
            outcome = Outcome(step, result, language)
            outcomes.append(outcome)
            report(number, outcome)
    return outcomes


def own_settings_note(settings: config.Settings) -> str:
    """"" when no provider has settings of the admin's own (overrides/), else what to know."""
    own = [f"{p.service}: {line}" for p in config.PROVIDERS for line in overrides.differences(settings, p)]
    if not own:
        return ""
    return _("(this may come from settings of your own, which the exercise does not expect: {settings}. "
             "`lab reset --overrides` clears them)").format(settings="; ".join(own))


def lab_is_up(ev: Evidence) -> Result:
    """Shared by exercises that need every service: which are not healthy, if any."""
    states = ev.states
    sick = [_("{service} ({state})").format(service=s, state=states.get(s) or _("missing"))
            for s in SERVICES if states.get(s) != "healthy"]
    if sick:
        return failed(_("not healthy: {services}").format(services=i18n.join(sick, _(", "))))
    return passed(ngettext("the {count} service is healthy", "all {count} services are healthy",
                           len(SERVICES)).format(count=len(SERVICES)))
