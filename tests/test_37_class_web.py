"""A class served to browsers (`lab class web`, `lab class links`): two learners and
their teacher in the suite's Chromium, each with their own link.

A learner's link opens that learner's workspace: they type exercise 1 into its
terminals and *Check my work* passes; the teacher's page shows it live. Holding a valid
link, a learner tries everything else (another lab's number in every address and
websocket, the teacher's pages, paths out of the app, terminals not offered, a
thousand websockets, escape sequences for the teacher's page and terminal, a fork
bomb): each is refused or stays in that learner's lab, and the other learner's
terminal answers as before. A renewed link gets 403 at once, its open terminal too.

The class is labs FIRST..FIRST+1 (never a teacher's own: 24 + MAILLAB_TEST_OFFSET).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator

import aiohttp
import pytest

from lab import classlinks, classroom, cli, config, exercises, tls
from lab.compose import Lab, LabError
from lab.config import PROVIDER_B
from lab.web import classserver, terminal
from lab.web.browser import chromedriver, free_port
from tests.conftest import LOG_DIR, TEST_OFFSET
from tests.harness import wait_until
from tests.solutions import lab_command
from tests.webpage import Served, browser_session, check_my_work, open_terminal, read_all, type_keys

FIRST, COUNT = 24 + TEST_OFFSET, 2
IDS = range(FIRST, FIRST + COUNT)
ONE, TWO = IDS
SHOTS = LOG_DIR / "web"
# One worker runs the whole module: its labs and its class record are the module's own,
# and a second worker bringing up the same two labs would pull them from under the first.
pytestmark = pytest.mark.xdist_group("class-web")


@pytest.fixture(scope="module")
def class_record(tmp_path_factory) -> Iterator[None]:
    folder = tmp_path_factory.mktemp("class")
    patch = pytest.MonkeyPatch()
    patch.setattr(config, "CLASS_FILE", folder / "class.json")
    yield
    try:
        if config.CLASS_FILE.exists():
            lab_command(Lab(config.load(lab_id=0)), "class", "clean")
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def a_class(class_record) -> dict[int, Lab]:
    code, out = lab_command(Lab(config.load(lab_id=0)), "class", "up", str(COUNT), "--first", str(FIRST))
    assert code == 0, out
    return {n: Lab(config.load(lab_id=n)) for n in IDS}


@pytest.fixture(scope="module")
def server(a_class) -> Iterator[Served]:
    options = classserver.Options()
    view = Served(lambda ports, ready, stop: classserver.serve(options, ports, ready, stop), (free_port(),))
    view.start_serving()
    yield view
    view.stop()


@pytest.fixture(scope="module")
def links(server: Served) -> dict[str, str]:
    """learner number (or "teacher") -> link, from `lab class links` itself."""
    code, out = lab_command(Lab(config.load(lab_id=0)), "class", "links")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    return {row["learner"]: row["url"] for row in rows}


@pytest.fixture(scope="module")
def driver_url(server: Served) -> Iterator[str]:
    with chromedriver(f"maillab-test-class-web-{os.getpid()}", server.ports) as url:
        yield url


def cookie_of(link: str) -> dict[str, str]:
    return {f"maillab-class-{link.split(':')[2].split('/')[0]}": link.rsplit("/", 1)[1]}


async def get(server: Served, path: str, cookies: dict[str, str], **headers: str) -> int:
    async with aiohttp.ClientSession(cookies=cookies) as session, session.get(
            f"{server.url}{path}", headers=headers, allow_redirects=False) as answer:
        return answer.status


async def connect(server: Served, path: str,
                  cookies: dict[str, str]) -> aiohttp.ClientWebSocketResponse | int:
    session = aiohttp.ClientSession(cookies=cookies)
    try:
        ws = await session.ws_connect(f"{server.url}{path}", headers={"Origin": server.url})
    except aiohttp.WSServerHandshakeError as err:
        await session.close()
        return err.status
    ws._maillab_session = session  # type: ignore[attr-defined]
    return ws


async def close(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._maillab_session.close()  # type: ignore[attr-defined]


async def read_until(ws: aiohttp.ClientWebSocketResponse, pattern: bytes, timeout: float = 20) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while pattern not in seen:
        message = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if message.type != aiohttp.WSMsgType.BINARY:
            raise AssertionError(f"closed ({ws.close_code}): {message}; it showed {seen[-300:]!r}")
        seen += message.data
    return seen


async def echo_time(ws: aiohttp.ClientWebSocketResponse, word: str) -> float:
    started = time.monotonic()
    await ws.send_bytes(f"echo {word}\r".encode())
    await read_until(ws, f"{word}\r\n".encode())
    return time.monotonic() - started


# --- the links ----------------------------------------------------------------------------


def test_links_are_csv_one_row_per_learner_then_the_teacher_and_kept_0600(links, server: Served):
    assert list(links) == ["1", "2", "teacher"]
    for url in links.values():
        assert re.fullmatch(rf"{re.escape(server.url)}/join/[A-Za-z0-9_-]{{43}}", url), url
    assert len(set(links.values())) == 3
    assert stat.S_IMODE(classlinks.links_file().stat().st_mode) == 0o600


# --- in the browser -----------------------------------------------------------------------


def test_two_learners_and_their_teacher_in_browsers(request, a_class, server: Served, links, driver_url):
    shot = SHOTS / f"{request.node.name}"
    with browser_session(driver_url, "en", shot.with_suffix(".teacher.png")) as teacher, \
            browser_session(driver_url, "en", shot.with_suffix(".one.png")) as one, \
            browser_session(driver_url, "ja", shot.with_suffix(".two.png")) as two:
        teacher.get(links["teacher"])
        wait_until(lambda: teacher.current_url == f"{server.url}/teacher/", "the teacher's page")
        wait_until(lambda: [r["data"].get("health") for r in read_all(teacher, "#class-table tbody tr")]
                   == ["healthy"] * COUNT, "both learners' rows")

        one.get(links["1"])
        wait_until(lambda: one.current_url == f"{server.url}/lab/{ONE}/exercises", "learner 1's lab")
        assert "/join/" not in one.current_url
        two.get(links["2"])
        wait_until(lambda: two.current_url == f"{server.url}/lab/{TWO}/exercises", "learner 2's lab")

        # learner 2 cannot open learner 1's lab, nor the teacher's page, by its address
        for path in (f"/lab/{ONE}/exercises/1", f"/lab/{ONE}/", "/teacher/"):
            two.get(server.url + path)
            assert "this link does not open that page" in two.page_source

        one.get(f"{server.url}/lab/{ONE}/exercises/1")
        prompt = f"lab {ONE}>"
        open_terminal(one, "lab", prompt)
        type_keys(one, "lab", "lab reset", prompt=prompt)
        open_terminal(one, "client-x")
        assert "root@client-x" in type_keys(one, "client-x", "hostname")
        type_keys(one, "client-x", f"dig MX {PROVIDER_B.domain}", f"dig {PROVIDER_B.mx}", "ip route")
        open_terminal(one, "dns")
        type_keys(one, "dns", f"cat /run/nsd/zones/{PROVIDER_B.domain}.zone")
        steps = check_my_work(one)
        assert all(ok for ok, _ in steps), steps

        # the teacher's page shows it without a reload; learner 2's lab is untouched
        total = len(exercises.get(1).steps)

        def cell(n: int) -> str:
            return "".join(c["text"] for c in read_all(teacher, f"tr[data-lab='{n}'] td[data-exercise='1']"))
        wait_until(lambda: cell(ONE) == "done" and cell(TWO) == "-", "learner 1's pass on the teacher's page")
        assert lab_command(a_class[TWO], "check", "1")[0] == 1
        _, out = lab_command(a_class[TWO], "check", "1")
        assert f"of {total} steps done" in out and not out.startswith("All")

        # learner 2, in Japanese, with a terminal open; then their link is renewed
        two.get(f"{server.url}/lab/{TWO}/exercises/1")
        assert two.find_element("id", "check").text == "答え合わせ"
        open_terminal(two, "client-x")
        renewed_at = time.monotonic()
        assert lab_command(Lab(config.load(lab_id=0)), "class", "links", "--renew", "2")[0] == 0
        wait_until(lambda: two.execute_script(
            "return window.maillabTerminals['client-x'].pane.dataset.code") == str(terminal.CLOSE_REVOKED),
            "learner 2's terminal closed at once", timeout=3)
        assert time.monotonic() - renewed_at < 3
        two.get(f"{server.url}/lab/{TWO}/exercises/1")
        assert "this link does not open that page" in two.page_source
        # ... and their new link works
        new = dict((r["learner"], r["url"]) for r in csv.DictReader(io.StringIO(
            lab_command(Lab(config.load(lab_id=0)), "class", "links")[1])))
        assert new["2"] != links["2"] and new["1"] == links["1"]
        links.update(new)
        two.get(new["2"])
        wait_until(lambda: two.current_url == f"{server.url}/lab/{TWO}/exercises", "learner 2's new link")


# --- a hostile learner --------------------------------------------------------------------


def test_a_learner_reaches_nothing_but_their_own_lab(a_class, server: Served, links):
    mine = cookie_of(links["1"])
    theirs = [f"/lab/{TWO}/", f"/lab/{TWO}/exercises/1", f"/lab/{TWO}/events", f"/lab/{TWO}/api/state",
              f"/lab/{TWO}/message/x@y", f"/lab/{ONE}/../{TWO}/", f"/lab/0{TWO}/",
              f"/lab/{TWO}%2f..%2f{ONE}/",
              "/lab/0/", "/lab/99/", "/lab/-1/", "/teacher/", "/teacher/events", "/teacher/api/state",
              "/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/lab/config.py",
              "/vendor/..%2f..%2fsetup.py",
              "/vendor/index.js.map", "/join/not-a-secret"]

    async def go() -> None:
        for path in theirs:
            status = await get(server, path, mine)
            assert status in (403, 404), (path, status)
        assert await get(server, f"/lab/{ONE}/exercises/1", mine) == 200
        assert await get(server, f"/lab/{ONE}/exercises/1", {}) == 403  # no cookie at all
        assert await get(server, f"/lab/{ONE}/exercises/1", {**mine}, Host="attacker.example") == 403
        # a check of another lab, with the page's header
        async with aiohttp.ClientSession(cookies=mine) as session, session.post(
                f"{server.url}/lab/{TWO}/exercises/1/check", headers={"X-Maillab-Check": "1"}) as answer:
            assert answer.status == 403
        for path in (f"/lab/{TWO}/terminal/client-x", f"/lab/{ONE}/terminal/provider-b",
                     f"/lab/{ONE}/terminal/no-such", f"/lab/{ONE}/terminal/client-x%3Bid",
                     f"/lab/{ONE}/terminal/provider-a?exercise=1", f"/lab/{TWO}/terminal/lab",
                     "/teacher/terminal/client-x"):
            assert await connect(server, path, mine) in (403, 404), path

    asyncio.run(go())


def test_a_thousand_websockets_a_megabyte_and_a_fork_bomb_leave_the_other_learner_unaffected(
        a_class, server: Served, links):
    mine, other = cookie_of(links["1"]), cookie_of(links["2"])

    async def go() -> None:
        theirs = await connect(server, f"/lab/{TWO}/terminal/client-y", other)
        assert not isinstance(theirs, int)
        await read_until(theirs, b"# ")
        calm = await echo_time(theirs, "before")

        async def one_socket() -> object:
            return await connect(server, f"/lab/{ONE}/terminal/outsider", mine)
        opened = await asyncio.gather(*(one_socket() for _ in range(1000)))
        kept = [ws for ws in opened if not isinstance(ws, int)]
        assert len(kept) == terminal.PER_LAB and {ws for ws in opened if isinstance(ws, int)} == {429}
        during = await echo_time(theirs, "during")
        # a megabyte at once into one of them, a fork bomb in another
        await read_until(kept[0], b"# ")
        await kept[0].send_bytes(b"stty raw -echo; echo RE\"\"ADY; head -c 1048576 | wc -c; stty sane\r")
        await read_until(kept[0], b"READY")
        for _ in range(64):
            await kept[0].send_bytes(b"z" * 16384)
        await read_until(kept[1], b"# ")
        await kept[1].send_bytes(b"bomb() { bomb | bomb & }; bomb\r")
        await asyncio.sleep(2)
        meanwhile = await echo_time(theirs, "meanwhile")
        assert await get(server, f"/lab/{TWO}/exercises", other) == 200
        for ws in kept:
            await close(ws)
        await close(theirs)
        assert max(during, meanwhile) < max(2.0, 20 * calm), (calm, during, meanwhile)

    asyncio.run(go())
    # the bomb filled its own container's process limit and nothing more
    assert a_class[TWO].run("client-y", "echo", "fine").strip() == "fine"
    a_class[ONE].stop("outsider")  # (the bomb's processes go with it)
    a_class[ONE].start("outsider")
    a_class[ONE].wait_healthy(60, ("outsider",))


def test_escape_sequences_a_learner_types_reach_the_teacher_as_visible_text(a_class, server: Served,
                                                                           links, capsys):
    mine = cookie_of(links["1"])
    # Ctrl-V before each control character: readline takes it as typed (else ESC is Meta)
    nasty = "echo \x16\x1b]0;owned\x16\x07\x16\x1b[2J\x16\x1b]52;c;cm0gLXJmIH4=\x16\x07"

    async def go() -> None:
        ws = await connect(server, f"/lab/{ONE}/terminal/client-x", mine)
        assert not isinstance(ws, int)
        await read_until(ws, b"# ")
        await ws.send_bytes(nasty.encode() + b"\r")
        await read_until(ws, b"# ")
        await close(ws)

    asyncio.run(go())
    teacher = Lab(config.load(lab_id=0))
    _, table = lab_command(teacher, "class", "status")
    assert "\x1b" not in table and "\x07" not in table, table
    assert "client-x$ echo ^[]0;owned^G^[[2J" in table, table  # (the table shows 40 characters)
    [row] = [r for r in classroom.status() if r.lab_id == ONE]
    assert row.last_action == "client-x$ echo ^[]0;owned^G^[[2J^[]52;c;cm0gLXJmIH4=^G", row


# --- starting the server, without a class -------------------------------------------------


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10", "::"])
def test_any_address_but_127_0_0_1_needs_tls(bind: str, capsys):
    with pytest.raises(LabError, match="Give it TLS: --cert FILE --key FILE"):
        classserver.check_options(classserver.Options(bind=bind))
    assert cli.main(["class", "web", "--bind", bind]) == 1
    assert "in clear. Give it TLS" in capsys.readouterr().err


def test_the_lab_made_certificate_vouches_for_the_class_server_only(tmp_path):
    crt, key = tls.class_certificate(["127.0.0.1", "class.example.org"], tmp_path)
    ca = tmp_path / "class-ca.crt"
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(crt)], capture_output=True,
                              text=True)
    assert verified.stdout.strip().endswith(": OK"), verified
    shown = subprocess.run(["openssl", "x509", "-noout", "-ext", "nameConstraints", "-in", str(ca)],
                           capture_output=True, text=True).stdout
    assert "IP:127.0.0.1/255.255.255.255" in shown and "DNS:class.example.org" in shown, shown
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "class-ca.key").stat().st_mode) == 0o600
    ssl.create_default_context(cafile=str(ca)).load_cert_chain(str(crt), str(key))  # a usable pair


def test_a_class_that_is_down_leaves_the_teacher_s_lab_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CLASS_FILE", tmp_path / "class.json")
    monkeypatch.delenv("LAB_ID", raising=False)
    config.CLASS_FILE.write_text('{"first": 97, "labs": 2, "started": 0}\n')  # labs that do not run
    assert cli._unnamed_class_lab("status") == ""
    assert cli._unnamed_class_lab("down") == ""


def test_over_tls_with_the_lab_made_certificate(a_class, tmp_path, links):
    """The class served over TLS (a certificate the lab made for 127.0.0.1): a client that
    trusts only class-ca.crt verifies it; the link's cookie is Secure."""
    crt, key = tls.class_certificate(["127.0.0.1"], tmp_path)
    options = classserver.Options(cert=crt, key=key)
    view = Served(lambda ports, ready, stop: classserver.serve(options, ports, ready, stop), (free_port(),))
    view.start_serving()
    try:
        url = f"https://127.0.0.1:{view.ports[0]}"
        trusted = ssl.create_default_context(cafile=str(tmp_path / "class-ca.crt"))
        secret = links["1"].rsplit("/", 1)[1]

        async def go() -> tuple[int, str, int]:
            # (unsafe: aiohttp's jar keeps no cookie of an IP address otherwise; browsers do)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                async with session.get(f"{url}/lab/{ONE}/exercises", ssl=trusted) as answer:
                    without = answer.status
                async with session.get(f"{url}/join/{secret}", ssl=trusted) as answer:
                    cookie = answer.headers.get("Set-Cookie", "")
                async with session.get(f"{url}/lab/{ONE}/exercises", ssl=trusted) as answer:
                    return without, cookie, answer.status
        without, cookie, with_it = asyncio.run(go())
        assert without == 403 and with_it == 200
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
        assert secret in cookie
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async def untrusted() -> None:
                system = ssl.create_default_context()  # the system's authorities: not the class CA
                async with aiohttp.ClientSession() as session, session.get(url, ssl=system):
                    pass
            asyncio.run(untrusted())
    finally:
        view.stop()
