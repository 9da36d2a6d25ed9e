"""One table of the providers' settings: each switch and each `.env` setting of how a
provider behaves, with its `.env` key, default, values, how it is applied and read
back, and its words. Everything else is made from this table: the checks of `.env`
(lab/config.py), the providers' environment (lab/composeenv.py), the live switches and
their report (lab/switches.py, `lab op25b on` ...), `lab status`'s and the class's
"left on", `lab config`, and the README's table of switches (`lab settings --markdown`).

Adding a switch is one row here, and the provider's script it names (a program in
images/provider/ that takes a value, and `status`, printing NAME=VALUE).
Standard library only: `make up` reads it before any virtualenv exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.i18n import _

# Postfix retry schedules (RETRY_PROFILE; what each is, .env says). The lifetimes are
# how long Postfix keeps trying before it returns a message.
RETRY_PROFILES: dict[str, dict[str, str]] = {
    "lab": {"queue_run_delay": "5s", "minimal_backoff_time": "5s", "maximal_backoff_time": "10s",
            "maximal_queue_lifetime": "1d", "bounce_queue_lifetime": "1d", "delay_warning_time": "0h"},
    "short-lifetime": {"queue_run_delay": "5s", "minimal_backoff_time": "5s", "maximal_backoff_time": "10s",
                       "maximal_queue_lifetime": "15s", "bounce_queue_lifetime": "15s",
                       "delay_warning_time": "5s"},
    "postfix": {"queue_run_delay": "300s", "minimal_backoff_time": "300s", "maximal_backoff_time": "4000s",
                "maximal_queue_lifetime": "5d", "bounce_queue_lifetime": "5d", "delay_warning_time": "0h"},
}
RETRY_KEYS = tuple(next(iter(RETRY_PROFILES.values())))
QUOTA_FULL_MODES = ("bounce", "tempfail", "discard")  # images/provider/quota-full-mode
DMARC_POLICIES = ("none", "quarantine", "reject")  # published in _dmarc.<domain> (lab/dnszones.py)
OPEN_RELAY_MYNETWORKS = "0.0.0.0/0"  # exercise 5's classic mistake: trust every network
ON_OFF = ("on", "off")

# How a setting reaches a provider:
START = "start"  # at every start, from the providers' environment (configure)
SCRIPT = "script"  # live too: the provider's own script (`greylist on`), which also reads it back
FILTER = "filter"  # live too: a script of the packet filter, from outside (lab/netseal.py)
POSTCONF = "postconf"  # live too: Postfix settings (lab-postconf), read back with postconf
ZONE = "zone"  # live too: the lab's DNS publishes it (lab/dnszones.py)


@dataclass(frozen=True)
class Setting:
    name: str  # the name the lab gives it: settings.NAME, the live state's NAME, the journal
    env: str  # its .env key ("": a switch of the running lab only, at its default at every start)
    default: str  # as .env writes it
    what: str  # what it decides, in a few words (README, `lab config`); marked, as are shown and said
    choices: tuple[str, ...] = ()  # its values, or () for a number / a size
    low: int = 0  # a number's bounds (high 0: a size such as 10M)
    high: int = 0
    applied: str = START  # how it reaches the provider (above)
    program: str = ""  # SCRIPT / FILTER: the provider's script (`greylist on`, `greylist status`)
    provider_env: str = ""  # START: the variable the providers' environment carries
    command: str = ""  # the live `lab` command ("": none)
    aliases: dict[str, str] = field(default_factory=dict)  # a command's word -> value (dkim: break -> broken)
    only: str = ""  # the one provider a live change acts on by default ("": both)
    shown: dict[str, str] = field(default_factory=dict)  # value -> what `lab status` says ("" hidden)
    said: dict[str, str] = field(default_factory=dict)  # value -> what the command prints
    # POSTCONF: value -> the Postfix settings it is (None: the lab's own value of that key)
    postconf: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.applied != START

    def check(self, raw: str) -> str:
        """"" if `raw` is a value this setting takes, else what would be right."""
        if self.choices == ON_OFF:
            return "" if raw in self.choices else _("must be on or off")
        if self.choices:
            return "" if raw in self.choices else _("must be one of {choices}").format(
                choices=", ".join(self.choices))
        if self.high:
            ok = raw.isdigit() and self.low <= int(raw) <= self.high
            return "" if ok else _("must be a whole number from {low} to {high}").format(
                low=self.low, high=self.high)
        ok = len(raw) > 1 and raw[:-1].isdigit() and raw[0] != "0" and raw[-1] in "KMG"
        return "" if ok else _("must be a size such as 512K, 10M or 1G")

    def typed(self, raw: str) -> object:
        """The value as the lab's code uses it: on/off -> bool, a number -> int, else text."""
        if self.choices == ON_OFF:
            return raw == "on"
        return int(raw) if self.high else raw

    def words(self, value: str, **facts: object) -> str:
        """What `lab status` says of this value ("" when nothing needs saying)."""
        return self.shown.get(value, self.shown.get("*", "")).format(value=value, **facts)


def size_in_bytes(size: str) -> int:
    return int(size[:-1]) * 1024 ** " KMG".index(size[-1])


TABLE: tuple[Setting, ...] = (
    Setting("open_relay", "", "off", _("exercise 5's open relay: A relays for anyone"), ON_OFF,
            applied=POSTCONF, command="open-relay", only="provider-a", shown={"on": _("OPEN RELAY")},
            postconf={"on": {"mynetworks": OPEN_RELAY_MYNETWORKS}, "off": {"mynetworks": None}},
            said={"on": _("LAB SWITCH: provider-a is now an OPEN RELAY (mynetworks = {mynetworks}): it "
                          "relays mail for\nanyone, as badly configured servers once did. Only inside this lab. "
                          "Undo: lab open-relay off").format(mynetworks=OPEN_RELAY_MYNETWORKS),
                  "off": _("provider-a relays only for its customers again (mynetworks = 127.0.0.0/8).")}),
    Setting("op25b", "OP25B", "on", _("Outbound Port 25 Blocking: customers reach no other host's port 25"),
            ON_OFF, applied=FILTER, program="op25b", command="op25b",
            shown={"on": _("port 25 blocked for customers")},
            said={"on": _("Port 25 is blocked for the customers again (OP25B): X and Y can reach another host's\n"
                          "port 25 no more; they submit through their own provider's port 587, with a login."),
                  "off": _("LAB SWITCH: port 25 blocking is OFF, as in the story's days: X and Y can connect to\n"
                           "any mail server's port 25 directly (and so could a customer's virus). "
                           "Undo: lab op25b on")}),
    Setting("greylist", "GREYLIST", "off", _("greylisting of strangers' mail on port 25"), ON_OFF,
            applied=SCRIPT, program="greylist", provider_env="GREYLIST", command="greylist",
            shown={"on": _("greylisting ({greylist_delay} s)")},
            said={"on": _("LAB SWITCH: greylisting is ON: the first attempt of each (client, sender, recipient)\n"
                          "on port 25 gets a 450; a retry after {greylist_delay} s passes. A retries by itself.\n"
                          "Undo: lab greylist off"),
                  "off": _("Greylisting is off: port 25 takes mail at the first attempt again.")}),
    Setting("greylist_delay", "GREYLIST_DELAY", "10", _("seconds a greylisted triple waits"), low=1,
            high=3600, provider_env="GREYLIST_DELAY"),
    Setting("dmarc", "DMARC_POLICY", "reject",
            _("what both domains ask receivers to do with mail failing DMARC"),
            DMARC_POLICIES, applied=ZONE, program="dmarc-policy", command="dmarc",
            shown={"*": _("DMARC p={value}")},
            said={"none": _("Both domains now publish p=none (dig TXT _dmarc.provider-a.test): mail whose From:\n"
                            "fails DMARC is only recorded: delivered, with dmarc=fail in its headers."),
                  "quarantine": _("Both domains now publish p=quarantine (dig TXT _dmarc.provider-a.test): mail "
                                  "whose From:\nfails DMARC is delivered but marked: \"[DMARC quarantine]\" in "
                                  "its Subject and an X-Quarantine header."),
                  "reject": _("Both domains now publish p=reject (dig TXT _dmarc.provider-a.test): mail whose "
                              "From:\nfails DMARC is refused while the sender is still connected: 550 5.7.1 "
                              "rejected by DMARC policy.")}),
    Setting("dkim_key", "", "good", _("which key A signs with: the one its DNS publishes, or another"),
            ("good", "broken"), applied=SCRIPT, program="dkim-key", command="dkim",
            aliases={"break": "broken", "fix": "good"}, only="provider-a",
            shown={"broken": _("DKIM key BROKEN")},
            said={"broken": _("LAB SWITCH: provider-a now signs with a key the DNS does not publish: its mail "
                              "fails DKIM\nat B (dkim=fail), and DMARC passes only if SPF does. X's own mail comes "
                              "from A's listed\naddress and still passes; a copy forwarded from elsewhere is "
                              "refused under p=reject\n(exercise 13). Undo: lab dkim fix"),
                  "good": _("provider-a signs with the key its DNS publishes again (dkim=pass at B).")}),
    Setting("quota_full", "QUOTA_FULL", "bounce", _("what a full mailbox answers"), QUOTA_FULL_MODES,
            applied=SCRIPT, program="quota-full-mode", provider_env="QUOTA_FULL", command="quota-full",
            only="provider-b", shown={"*": _("full mailbox: {value}")},
            said={"bounce": _("A full mailbox on provider-b now refuses the message with 552 5.2.2: A returns it "
                              "to its sender at once (QUOTA_FULL=bounce)."),
                  "tempfail": _("A full mailbox on provider-b now answers 452 4.2.2: A keeps the message and "
                                "retries until there is room (QUOTA_FULL=tempfail)."),
                  "discard": _("A full mailbox on provider-b now takes the message (250) and throws it away: "
                               "nobody is told, as in the story's days (QUOTA_FULL=discard).")}),
    Setting("retry_profile", "RETRY_PROFILE", "lab", _("how A retries mail that B did not take"),
            tuple(RETRY_PROFILES), applied=POSTCONF, command="retry-profile", only="provider-a",
            shown={"*": _("retries: {value}")}, postconf=dict(RETRY_PROFILES),
            # (the command fills in {name} and {schedule}: the value's Postfix settings)
            said=dict.fromkeys(RETRY_PROFILES, _("{provider} now retries with the {name} schedule: {schedule}"))),
    Setting("mailbox_quota", "MAILBOX_QUOTA", "10M", _("the disk quota of each mailbox"),
            provider_env="MAILBOX_QUOTA"),
    Setting("max_message_size", "MAX_MESSAGE_SIZE", "5M", _("the largest message a provider takes"),
            provider_env="POSTFIX_MESSAGE_SIZE_LIMIT"),
    Setting("max_recipients", "MAX_RECIPIENTS", "50", _("recipients per message on submission"), low=1,
            high=10000, provider_env="POSTFIX_SUBMISSION_RECIPIENT_LIMIT"),
    Setting("max_recipients_per_minute", "MAX_RECIPIENTS_PER_MINUTE", "300",
            _("recipients per client and minute on submission (0: no limit)"), low=0, high=1000000,
            provider_env="POSTFIX_SUBMISSION_RECIPIENT_RATE_LIMIT"),
    Setting("max_queue_size", "MAX_QUEUE_SIZE", "256M",
            _("what a provider's queue may hold before new mail waits"), provider_env="POSTFIX_QUEUE_LIMIT"),
)
BY_NAME = {s.name: s for s in TABLE}
SWITCHES = tuple(s for s in TABLE if s.command)


def provider_value(setting: Setting, raw: str) -> str:
    """What the providers' environment carries for a START setting's .env value."""
    return str(size_in_bytes(raw)) if setting.provider_env.startswith("POSTFIX_") and raw[-1:] in "KMG" \
        else raw


def markdown() -> str:
    """The README's table of the settings (README, "Settings"; a test holds them equal)."""
    lines = ["| `.env` setting (default) | what it decides | values | live switch |", "| --- | --- | --- | --- |"]
    for s in TABLE:
        values = "\\|".join(s.choices) if s.choices else (f"{s.low} to {s.high}" if s.high else "a size: 512K, 10M, 1G")
        env = f"`{s.env}={s.default}`" if s.env else f"— (`{s.default}` at every start)"
        words = "\\|".join([*s.aliases] or s.choices) if s.command else ""
        switch = f"`lab {s.command} {words}`" if s.command else "—"
        lines.append(f"| {env} | {s.what} | {values} | {switch} |")
    return "\n".join(lines) + "\n"
