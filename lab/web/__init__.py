"""The web view (`make web`, `lab web`): the running lab drawn live in a browser.

    app.py     the HTTP side: pages, the server-sent events, the check button, the Host guard
    live.py    following the lab: logs, Docker's events, the journal; a part rebuilt on change
    views.py   each part as data, built from lab/trace.py, lab/maillog.py, lab/spool.py, ...
    words.py   the pages' words in English and Japanese
    classpage.py   `lab class web`: the class table, live (same Publisher, same events)
    browser.py     Chromium and chromedriver in a container, for the tests and the bench
    templates/ static/   the pages, their script and style, all served from here

It needs aiohttp, Jinja2 and markdown-it-py (pyproject's "web" extra); the rest of the
host side stays standard-library only.
"""
