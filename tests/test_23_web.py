"""The web view (`lab web`), in a real browser: the picture of the lab, mail moving on
the page without a reload, a fault and its restore, a bounce, a check equal to `lab
check`, the Japanese page, and the guard against foreign Host headers.

`lab web` serves the ports lab (it has the host ports a learner's lab has) from a
thread of this process; Chromium runs in a container on the host's network
(tests/browser.py). A failed test leaves a screenshot in .lab/test-logs/web/.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from lab import checker, cli, config, exercises, maillog
from lab.compose import Lab, LabError
from lab.config import PROVIDER_A, PROVIDER_B, REPO, X, Y
from lab.web import app
from lab.web.browser import chromedriver, free_port, open_browser
from tests.conftest import LOG_DIR, PORTS_LAB
from tests.harness import (
    Container,
    Provider,
    delivery_bound,
    make_message,
    nearly_fill,
    new_message_id,
    submit,
    submit_many,
    swaks,
    too_big_for_the_rest,
    wait_until,
)
from tests.rawsession import pop3_retrieve_all
from tests.webpage import Served, browser_session, read_all

pytestmark = [PORTS_LAB]
SHOTS = LOG_DIR / "web"
SERVICES_DRAWN = ("dns", "provider-a", "provider-b", "client-x", "client-y", "outsider")
# `make screenshot` sets it: the front page with a message in flight, for the README
README_SHOT = os.environ.get("MAILLAB_SCREENSHOT")


@pytest.fixture(scope="module")
def web(ports_lab: Lab) -> Iterator[Served]:
    s = ports_lab.settings
    view = Served(lambda ports, ready, stop: app.serve(ports_lab, ports, ready, stop),
                  (s.web_port, s.browser_port)).start_serving()
    yield view
    view.stop()


@pytest.fixture(scope="module")
def driver_url(ports_lab: Lab) -> Iterator[str]:
    s = ports_lab.settings
    with chromedriver(f"maillab-test-browser-{os.getpid()}", (s.web_port, s.browser_port)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(driver_url: str) -> Iterator[WebDriver]:
    driver = open_browser(driver_url, "en")
    yield driver
    driver.quit()


@pytest.fixture
def page(request, browser: WebDriver, web: Served) -> Iterator[WebDriver]:
    """The English browser on the front page, freshly loaded; a screenshot if the test fails."""
    browser.get(web.url + "/?lang=en")
    live(browser)
    yield browser
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / f"{request.node.name}.png"))


def live(driver: WebDriver) -> None:
    """Wait until the page follows the lab: events open, every machine drawn."""
    wait_until(lambda: driver.execute_script(
        "return document.body.dataset.live === 'yes' && "
        "[...document.querySelectorAll('.machine')].every(m => m.dataset.state !== 'starting')"),
        "the page to follow the lab", timeout=15)


def journey(driver: WebDriver, message_id: str) -> dict | None:
    return driver.execute_script(
        "const j = [...document.querySelectorAll('.journey')].find(e => e.dataset.id === arguments[0]);"
        "return j && {place: j.dataset.place, step: +j.dataset.step, seen: JSON.parse(j.dataset.seenAt),"
        " text: j.textContent};", message_id)


def wait_place(driver: WebDriver, message_id: str, place: str, timeout: float = 15, saying: str = "") -> dict:
    """The message's journey once the page shows it at `place` (and its text says `saying`:
    the page is redrawn as each log line comes, and the last one may add to the text)."""
    def shown() -> dict | None:
        j = journey(driver, message_id)
        return j if j and j["place"] == place and saying in j["text"] else None

    return wait_until(shown, f"{message_id} shown at {place!r} saying {saying!r}", timeout=timeout,
                      context=lambda: f"on the page: {journey(driver, message_id)}")


def machine_state(driver: WebDriver, service: str) -> str:
    return driver.find_element(By.ID, f"m-{service}").get_attribute("data-state") or ""


def containers(lab: Lab) -> tuple[Container, Provider, Provider]:
    return (Container("client-x", lab.container("client-x")),
            Provider(PROVIDER_A.service, lab.container(PROVIDER_A.service), domain=PROVIDER_A.domain),
            Provider(PROVIDER_B.service, lab.container(PROVIDER_B.service), domain=PROVIDER_B.domain))


def send_to_y(lab: Lab, tag: str) -> str:
    client_x = containers(lab)[0]
    message_id = new_message_id(tag)
    sent = submit(client_x, X, lab.settings.password(X), Y, make_message(X, Y, message_id=message_id))
    assert sent.data_reply.startswith("250"), sent.data_reply
    return message_id


# --- the picture ------------------------------------------------------------------------


def test_the_picture_names_six_machines_and_three_networks(page: WebDriver):
    picture = page.find_element(By.ID, "lab-picture").text
    for name in (*SERVICES_DRAWN, "internet", "access-a", "access-b"):
        assert name in picture
    assert {s: machine_state(page, s) for s in SERVICES_DRAWN} == dict.fromkeys(SERVICES_DRAWN, "healthy")
    assert page.find_element(By.ID, "sw-provider-a").text  # the switches are written under A


def test_the_page_serves_every_asset_itself(page: WebDriver, web: Served):
    fetched = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched, "the page loaded no script or style at all"
    assert [url for url in fetched if not url.startswith(web.url + "/")] == []
    html = page.page_source
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


# --- mail moving ------------------------------------------------------------------------


def test_a_message_sent_after_the_page_opened_reaches_y_without_a_reload(page: WebDriver, ports_lab: Lab):
    page.execute_script("window.notReloaded = true")
    message_id = send_to_y(ports_lab, "web-live")
    shown = wait_place(page, message_id, "mailbox")
    assert shown["step"] == 5 and "in y@provider-b.test's mailbox" in shown["text"]
    assert page.execute_script("return window.notReloaded") is True
    y_row = f"tr.mailbox-row[data-address='{Y}']"
    wait_until(lambda: any(int(r["data"]["messages"]) >= 1 for r in read_all(page, y_row)),
               "Y's mailbox counted on the page", timeout=5)
    # the log line that proves step 5, against the moment the page drew it there
    saved = [e.time for e in maillog.mailbox_events(maillog.read(ports_lab.container(PROVIDER_B.service)))
             if e.event == "saved" and e.message_id == message_id]
    assert saved, "B's log does not show the delivery"
    assert shown["seen"]["mailbox"] - saved[0] <= 2.0, shown


def test_y_fetching_it_over_pop3_is_step_6(page: WebDriver, ports_lab: Lab):
    message_id = send_to_y(ports_lab, "web-pop")
    wait_place(page, message_id, "mailbox")
    client_y = Container("client-y", ports_lab.container("client-y"))
    fetched = pop3_retrieve_all(client_y, PROVIDER_B.pop, Y, ports_lab.settings.password(Y))
    assert any(message_id.encode() in m for m in fetched)
    # Dovecot logs the deletion, then the session's logout with what it fetched (retr=1)
    shown = wait_place(page, message_id, "retrieved", saying="fetched (RETR) by y@provider-b.test over POP3")
    assert shown["step"] == 6


def test_the_message_page_draws_its_trace_and_headers_bottom_up(page: WebDriver, web: Served,
                                                                 ports_lab: Lab):
    message_id = send_to_y(ports_lab, "web-trace")
    wait_place(page, message_id, "mailbox")
    page.get(f"{web.url}/message/{quote(message_id.strip('<>'), safe='@')}")
    lanes = page.find_elements(By.CSS_SELECTOR, "#sequence .lane .name")
    assert [lane.text for lane in lanes] == ["X", "A", "DNS", "B", "Y"]
    steps = page.find_elements(By.CSS_SELECTOR, "ol.events li")
    assert [re.search(r"\((\d)\)", s.text).group(1) for s in steps][:5] == ["1", "2", "3", "4", "5"]
    assert "in y@provider-b.test's mailbox" in page.find_element(By.ID, "now").text
    received = [h.text for h in page.find_elements(By.CSS_SELECTOR, ".headers li")
                if h.text.startswith("Received:")]
    # the oldest hop first: X to A (submission), A to B (port 25), B into the mailbox (LMTP)
    assert len(received) == 3, received
    assert "from client-x" in received[0] and "ESMTPSA" in received[0]
    assert "from mx.provider-a.test" in received[1] and "by mx.provider-b.test" in received[1]
    assert "with LMTP" in received[2]


def test_refused_attempts_show_where_they_were_stopped(page: WebDriver, ports_lab: Lab):
    outsider = Container("outsider", ports_lab.container("outsider"))
    relayed = swaks(outsider, "--server", PROVIDER_A.mx, "--port", "25", "--from", "spam@elsewhere.test",
                    "--to", "victim@elsewhere.test")
    assert relayed.reply("RCPT").startswith("554")
    wrong = swaks(containers(ports_lab)[0], "--server", PROVIDER_A.smtp, "--port", "587", "--tls",
                  "--auth", "PLAIN", "--auth-user", X, "--auth-password", "not-the-password",
                  "--from", X, "--to", Y)
    assert wrong.reply("AUTH").startswith("535")

    def shown() -> list[dict] | None:
        items = read_all(page, "#refused .refusal[data-at='provider-a']")
        relay = any("Relay access denied" in i["text"] and "victim@elsewhere" in i["text"] for i in items)
        login = any(i["data"]["what"] == "login" and "client-x" in i["text"] for i in items)
        return items if relay and login else None

    wait_until(shown, "the relay attempt and the wrong password on the page", timeout=10)


@pytest.mark.disruptive
def test_a_customer_hung_up_and_b_cut_off_are_drawn(page: WebDriver, ports_lab: Lab):
    def drawn(service: str, state: str, link: str) -> bool:
        off = "off" in (page.find_element(By.ID, link).get_attribute("class") or "")
        return machine_state(page, service) == state and off == (state != "healthy")

    assert cli.main(["hangup", "x"], lab=ports_lab) == 0
    try:
        wait_until(lambda: drawn("client-x", "hung up", "l-client-x-access-a"), "X hung up", timeout=10)
    finally:
        assert cli.main(["dial", "x"], lab=ports_lab) == 0
    wait_until(lambda: drawn("client-x", "healthy", "l-client-x-access-a"), "X dialled in", timeout=10)
    assert cli.main(["fault", "partition"], lab=ports_lab) == 0
    try:
        wait_until(lambda: drawn("provider-b", "cut off", "l-provider-b-internet"), "B cut off", timeout=10)
        assert page.find_element(By.ID, "faults").text == "partition"
    finally:
        assert cli.main(["restore", "partition"], lab=ports_lab) == 0
    wait_until(lambda: drawn("provider-b", "healthy", "l-provider-b-internet"), "B back", timeout=10)


@pytest.mark.disruptive
def test_the_open_relay_switch_is_shown_at_a(page: WebDriver, ports_lab: Lab):
    def flagged() -> bool:
        return [e["text"] for e in read_all(page, "#sw-provider-a .danger")] == ["OPEN RELAY"]

    assert cli.main(["open-relay", "on"], lab=ports_lab) == 0
    try:
        wait_until(flagged, "OPEN RELAY under A", timeout=10)
        assert read_all(page, "#sw-provider-b .danger") == []
    finally:
        assert cli.main(["open-relay", "off"], lab=ports_lab) == 0
    wait_until(lambda: not flagged(), "OPEN RELAY gone", timeout=10)


@pytest.mark.disruptive
def test_b_down_shows_b_stopped_and_mail_waiting_at_a_until_the_restore(page: WebDriver, ports_lab: Lab):
    assert cli.main(["fault", "b-down"], lab=ports_lab) == 0  # as a learner types it: journaled
    try:
        wait_until(lambda: machine_state(page, "provider-b") == "stopped", "B drawn stopped", timeout=10)
        wait_until(lambda: page.find_element(By.ID, "faults").text == "b-down", "the fault named", timeout=5)
        assert [e["text"] for e in read_all(page, "#sw-provider-b .danger")] == ["fault: b-down"]  # where
        assert "off" in page.find_element(By.ID, "l-provider-b-internet").get_attribute("class")
        message_id = send_to_y(ports_lab, "web-b-down")
        waiting = wait_place(page, message_id, "provider-a", timeout=30)
        reason = "waiting in provider-a's queue"
        wait_until(lambda: reason in (journey(page, message_id) or {}).get("text", ""),
                   "the reason it waits", timeout=30)
        deferred = "#queue-provider-a tr.queued[data-queue='deferred'] td.reason"
        wait_until(lambda: [r for r in read_all(page, deferred) if r["text"]],
                   "A's queue on the page: the message deferred, with its reason", timeout=10,
                   context=lambda: f"{waiting}; {page.find_element(By.ID, 'queue-provider-a').text}")
        if README_SHOT:
            page.save_screenshot(README_SHOT)
    finally:
        assert cli.main(["restore", "b-down"], lab=ports_lab) == 0
    wait_until(lambda: machine_state(page, "provider-b") == "healthy", "B drawn running", timeout=30)
    wait_until(lambda: page.find_element(By.ID, "faults").text == "no fault", "no fault named", timeout=5)
    wait_place(page, message_id, "mailbox", timeout=delivery_bound(ports_lab.settings))


@pytest.mark.disruptive
def test_a_full_mailbox_bounce_travels_back_to_x(page: WebDriver, ports_lab: Lab):
    client_x, a, b = containers(ports_lab)
    nearly_fill(b, ports_lab.settings, Y)
    try:
        [(message_id, code, _)] = submit_many(client_x, X, ports_lab.settings.password(X), Y, 1, "web-full",
                                              size=too_big_for_the_rest(ports_lab.settings))
        assert code == 250
        back = wait_place(page, message_id, "client-x", timeout=30)
        assert "returned to x@provider-a.test" in back["text"]
        assert page.execute_script(
            "return [...document.querySelectorAll('.journey')].find(e => e.dataset.id === arguments[0])"
            ".querySelector('.steps li.failed') !== null", message_id)
    finally:
        b.empty_mailbox(Y)
        a.empty_mailbox(X)


# --- exercises --------------------------------------------------------------------------


def test_a_check_on_the_page_says_what_lab_check_says(page: WebDriver, web: Served, ports_lab: Lab):
    page.get(f"{web.url}/exercises/2?lang=en")
    page.find_element(By.ID, "check").click()
    wait_until(lambda: page.find_element(By.ID, "check-summary").get_attribute("data-passed") is not None,
               "the check's result on the page", timeout=60)
    on_page = [(li.get_attribute("data-ok") == "true", li.text.split("\n")[0])
               for li in page.find_elements(By.CSS_SELECTOR, "#check-steps li")]
    exercise = exercises.get(2)
    outcomes = checker.run_steps(ports_lab, exercise.steps, lambda number, outcome: None)
    in_terminal = [(o.result.ok, f"{'PASS' if o.result.ok else 'FAIL'} {n}. {o.step.title}")
                   for n, o in enumerate(outcomes, 1)]
    assert on_page == in_terminal
    assert any(not ok for ok, _ in on_page)  # a lab nobody has typed in: some steps fail
    hints = page.find_elements(By.CSS_SELECTOR, "#check-steps li.fail .hint")
    assert len(hints) == sum(not ok for ok, _ in on_page)
    page.get(f"{web.url}/exercises")  # the list shows the progress the check recorded
    passed = sum(ok for ok, _ in on_page)
    assert page.find_element(By.CSS_SELECTOR, "li[data-number='2'] .progress").text == \
        f"{passed}/{len(on_page)} steps done"


def test_the_japanese_page_under_a_japanese_browser(request, driver_url: str, web: Served, ports_lab: Lab):
    with browser_session(driver_url, "ja", SHOTS / f"{request.node.name}.png") as japanese:
        japanese.get(web.url + "/")
        assert japanese.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
        assert japanese.find_element(By.TAG_NAME, "h1").text == "いまのラボ"
        live(japanese)
        assert "稼働中" in japanese.find_element(By.ID, "m-provider-a").text
        message_id = send_to_y(ports_lab, "web-ja")
        wait_place(japanese, message_id, "mailbox")
        [where] = read_all(japanese, f".journey[data-id='{message_id}'] .where")
        assert where["text"] == "メールボックスに届いた"
        [said] = read_all(japanese, f".journey[data-id='{message_id}'] .outcome")
        assert f"provider-b の {Y} のメールボックスに配送されています" in said["text"]  # the lab's words
        # the message's page: its journey in Japanese (the steps, what each log line tells)
        japanese.get(f"{web.url}/message/{message_id.strip('<>')}")
        steps = [li.text for li in japanese.find_elements(By.CSS_SELECTOR, "ol.events li")]
        assert any("(1) 送信" in t for t in steps) and any("(4) 受け渡し" in t for t in steps), steps
        assert "のメールボックスに配送されています" in japanese.find_element(By.ID, "now").text
        # and a check, on the exercise's page, in Japanese: titles, evidence, hints
        japanese.get(web.url + "/exercises/1")
        japanese.find_element(By.ID, "check").click()
        wait_until(lambda: japanese.find_element(By.ID, "check-summary").get_attribute("data-passed")
                   is not None, "the check's result on the Japanese page", timeout=60)
        shown = japanese.find_element(By.ID, "check-steps").text
        outcomes = checker.run_steps(ports_lab, exercises.get(1).steps, lambda n, o: None, language="ja")
        assert all(o.title in shown for o in outcomes), (shown, [o.title for o in outcomes])
        assert any(not o.result.ok and o.hint in shown for o in outcomes), shown
        japanese.get(web.url + "/exercises/1")
        title = exercises.get(1).text("ja").splitlines()[0].lstrip("# ").strip()
        assert japanese.find_element(By.CSS_SELECTOR, "article h1").text == title
        japanese.get(web.url + "/exercises/1?lang=en")  # the switch, kept for the next pages
        japanese.get(web.url + "/")
        assert japanese.find_element(By.TAG_NAME, "h1").text == "The lab now"


# --- safety -----------------------------------------------------------------------------


def request(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    return request_with_headers(port, method, path, headers)[:2]


def request_with_headers(port: int, method: str, path: str,
                         headers: dict[str, str]) -> tuple[int, str, http.client.HTTPMessage]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read().decode(), answer.headers
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/", "/static/lab.js", "/exercises/1", "/no-such-page"])
def test_every_answer_says_run_nothing_foreign_and_never_be_framed(web: Served, path: str):
    port = web.ports[-1]
    status, _, headers = request_with_headers(port, "GET", path, {"Host": f"127.0.0.1:{port}"})
    assert status in (200, 404)
    assert headers["Content-Security-Policy"].startswith("default-src 'self'; frame-ancestors 'none'")
    assert (headers["X-Content-Type-Options"], headers["Referrer-Policy"], headers["X-Frame-Options"]) \
        == ("nosniff", "no-referrer", "DENY")
    # and the refusals too
    status, _, headers = request_with_headers(port, "GET", path, {"Host": "attacker.example"})
    assert status == 403 and "frame-ancestors 'none'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/message/x@y", "/api/state", "/exercises", "/events", "/"])
def test_what_another_page_asks_is_refused_before_it_costs_work(web: Served, path: str):
    """An <img> or a script another site (or another port of 127.0.0.1) points here is
    refused, whatever it asks; the page's own requests, and an address typed, pass."""
    port = web.ports[-1]
    host = {"Host": f"127.0.0.1:{port}"}
    for site in ("cross-site", "same-site"):
        status, body = request(port, "GET", path, {**host, "Sec-Fetch-Site": site})
        assert (status, body) == (403, "maillab answers its own pages only: open it by its address\n")
    if path != "/events":  # (a stream: it would not end)
        assert request(port, "GET", path, {**host, "Sec-Fetch-Site": "same-origin"})[0] in (200, 404)
        assert request(port, "GET", path, {**host, "Sec-Fetch-Site": "none"})[0] in (200, 404)


@pytest.mark.parametrize("host", ["attacker.example:{port}", "10.0.0.1:{port}", "127.0.0.1.nip.io:{port}"])
def test_a_foreign_host_is_refused(web: Served, host: str):
    for port in web.ports:
        status, body = request(port, "GET", "/", {"Host": host.format(port=port)})
        assert status == 403 and "127.0.0.1" in body


def test_both_ports_serve_the_page(web: Served, ports_lab: Lab):
    assert web.ports == (ports_lab.settings.host_port_base + 80, ports_lab.settings.host_port_base + 88)
    for port in web.ports:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            status, body = request(port, "GET", "/", {"Host": host})
            assert status == 200 and 'id="lab-picture"' in body


def test_a_check_is_run_only_from_the_lab_s_own_page(web: Served):
    port = web.ports[-1]
    host = {"Host": f"127.0.0.1:{port}"}
    assert request(port, "POST", "/exercises/1/check", host)[0] == 403  # a form cannot set the header
    foreign = {**host, "X-Maillab-Check": "1", "Origin": "http://attacker.example"}
    assert request(port, "POST", "/exercises/1/check", foreign)[0] == 403
    status, body = request(port, "POST", "/exercises/1/check",
                           {**host, "X-Maillab-Check": "1", "Origin": f"http://127.0.0.1:{port}"})
    assert status == 200 and json.loads(body)["exercise"] == 1


def test_lab_web_prints_its_address_serves_and_stops_on_ctrl_c(ports_lab: Lab):
    """`lab web` as a learner runs it: a process of its own, stopped with Ctrl-C (SIGINT)."""
    port = free_port()
    script = ("import sys; from lab import cli, config; from lab.compose import Lab; "
              "sys.exit(cli.main(['web', '--port', sys.argv[1]], "
              "lab=Lab(config.load(lab_id=int(sys.argv[2]), project=sys.argv[3]))))")
    process = subprocess.Popen([sys.executable, "-c", script, str(port), str(ports_lab.settings.lab_id),
                                ports_lab.project], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        said = f"maillab's web view of {ports_lab.project}: open http://127.0.0.1:{port}/ in a browser"
        assert process.stdout.readline() == said + "\n"
        status, body = request(port, "GET", "/", {"Host": f"127.0.0.1:{port}"})
        assert status == 200 and ports_lab.project in body
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
        assert f"web view of {ports_lab.project} stopped; the lab keeps running." in process.stdout.read()
    finally:
        process.kill()
        process.wait()


def test_lab_web_needs_a_running_lab(capsys):
    absent = Lab(config.load(lab_id=9, project="maillab-test-absent", environ={}))
    assert cli.main(["web"], lab=absent) == 1
    assert "maillab-test-absent is not running: start it with `make up`" in capsys.readouterr().err


def test_lab_web_says_when_its_port_is_taken(ports_lab: Lab, web: Served):
    with pytest.raises(LabError, match=rf"cannot listen on 127.0.0.1:{web.ports[0]} .*lab web --port N"):
        asyncio.run(app.serve(ports_lab, web.ports[:1]))


def test_the_readme_screenshot_is_in_the_repo():
    shot = REPO / "docs" / "web-view.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "docs/web-view.png" in (REPO / "README.md").read_text()

