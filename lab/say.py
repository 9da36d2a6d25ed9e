"""What `make` itself says to a learner, in the learner's language: `python3 -m lab.say
NAME [--ja|--en]` prints one of these sentences (standard library only, as `make up`
needs no virtualenv). Everything else `make` prints comes from `lab` itself."""

from __future__ import annotations

import sys

from lab import i18n
from lab.i18n import Text, _

# name -> (the sentence, the exit code: not 0 is an error, said on standard error)
SAID: dict[str, tuple[Text, int]] = {
    "check-needs-ex": (_("say which exercise: make check EX=1 (make lab lists them)"), 2),
    "installed": (_("lab is installed: run .venv/bin/lab, or . .venv/bin/activate and then lab"), 0),
}


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("--")]
    text, code = SAID[names[0]]
    language = i18n.choose(ja="--ja" in argv, en="--en" in argv)
    print(text.render(language), file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
