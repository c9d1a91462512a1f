"""The dashboard in a real browser: sign in, find, open and act on failures,
bulk actions, roles and tenants, sign out. Every action is checked through
the API afterwards, so a test passes only when the server really changed."""

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import (ADMIN_SECRET, all_css, css, dialog_submit, goto, sign_in, table_rows, uid,
                      wait)

ENTRIES = "/api/v1/dlq/entries"


def seed(api, task, n, tenant=None, exc="ValueError", msg="bad row", **extra):
    """seed ingests n failures of task in one batch; returns their ids, newest last."""
    entries = []
    for i in range(n):
        e = {"task_name": task, "task_args": [i], "task_kwargs": {"row": i},
             "exception": {"type": exc, "message": f"{msg} {i}",
                           "traceback": "Traceback (most recent call last):\n"
                                        f"  File \"worker.py\", line {10 + i}, in run\n"
                                        f"{exc}: {msg} {i}"},
             "queue": "exports", "reason": "max_retries_exceeded", "retries_attempted": 3}
        if tenant:
            e["tenant_id"] = tenant
        e.update(extra)
        entries.append(e)
    return api.ingest_batch(entries)


def history_events(api, dlq_id):
    return [h["event"] for h in api.entry(dlq_id)["history"]]


def open_entry(drv, srv, dlq_id):
    goto(drv, srv, f"#/entry/{dlq_id}")
    css(drv, "[data-test=exc-type]")


def test_sign_in_and_see_seeded_failures(server, driver):
    task = uid("app.tasks.seen_")
    seed(server.admin, task, 3)
    sign_in(driver, server)
    assert css(driver, "#who-role").text == "admin"
    assert css(driver, "#who-tenant").text == "all tenants"
    assert css(driver, "[data-test=health]").is_displayed()
    css(driver, '#nav a[data-page="failures"]').click()
    rows = table_rows(driver)
    names = {r.find_element(By.CSS_SELECTOR, ".task-link").text for r in rows}
    assert task in names
    total = server.admin.total()
    wait(driver, lambda d: css(d, "[data-test=total]").text == f"{total:,} matching",
         what="the total")


def test_overview_refreshes_itself(server, driver):
    sign_in(driver, server)
    before = int(css(driver, "[data-test=pending] .big").text.replace(",", ""))
    assert "Top tasks" in css(driver, ".overview").text
    driver.execute_script("window.__same_page = true")
    task = uid("app.tasks.fresh_")
    seed(server.admin, task, 2)
    wait(driver, lambda d: int(css(d, "[data-test=pending] .big").text.replace(",", ""))
         == before + 2, 15, what="the pending count to refresh")
    assert driver.execute_script("return window.__same_page") is True  # no reload
    assert task in css(driver, ".overview").text  # in the top tasks
    css(driver, ".segmented button:last-child").click()  # 7 days
    wait(driver, lambda d: "7 days" in css(d, ".overview").text, what="the 7-day chart")
    assert len(all_css(driver, "svg.chart rect.bar")) == 168


def test_filter_search_and_share_the_url(server, driver):
    task = uid("app.tasks.filter_")
    seed(server.admin, task, 4, exc="ZanzibarError", msg="quokka overflow")
    seed(server.admin, uid("app.tasks.other_"), 2)
    sign_in(driver, server, page="#/failures")
    box = css(driver, "#flt-q")
    box.send_keys("quokka", Keys.ENTER)
    wait(driver, lambda d: "q=quokka" in d.current_url, what="q in the URL")
    rows = table_rows(driver)
    assert len(rows) == 4
    assert all(r.find_element(By.CSS_SELECTOR, ".exc-type").text == "ZanzibarError" for r in rows)
    # The filter state is in the URL: open it afresh and get the same view.
    url = driver.current_url
    driver.get("about:blank")
    driver.get(url)
    assert len(table_rows(driver)) == 4
    # A filter of the form: the task name (exact), by the keyboard.
    goto(driver, server, "#/failures")
    table_rows(driver)
    css(driver, ".more-filters summary").click()
    css(driver, "#flt-task_name").send_keys(task, Keys.ENTER)
    wait(driver, lambda d: "task_name=" in d.current_url, what="task_name in the URL")
    rows = table_rows(driver)
    assert len(rows) == 4
    # The tab counts follow the filter (4 pending of this task, 0 resolved).
    wait(driver, lambda d: css(d, '.tab[data-status="pending_review"] .tab-count').text == "4",
         what="the pending count of the filtered view")
    assert css(driver, '.tab[data-status="resolved"] .tab-count').text == "0"
    # Status tab with counts, and the empty state of a filter that matches nothing.
    goto(driver, server, f"#/failures?task_name={task}&status=resolved")
    css(driver, '.tab[data-status="resolved"][aria-current="true"]')
    assert "No failures match this filter." in css(driver, ".empty").text


def test_open_one_failure(server, driver):
    task = uid("app.tasks.open_")
    [dlq_id] = seed(server.admin, task, 1, exc="KeyError", msg="customer has no field")
    sign_in(driver, server, page=f"#/failures?task_name={task}")
    table_rows(driver)[0].find_element(By.CSS_SELECTOR, ".task-link").click()
    assert css(driver, "[data-test=exc-type]").text == "KeyError"
    assert "customer has no field 0" in css(driver, "[data-test=exc-message]").text
    tb = css(driver, "[data-test=traceback]")
    assert "worker.py" in tb.text
    assert tb.value_of_css_property("white-space") == "pre-wrap"
    assert '"row": 0' in css(driver, "[data-test=kwargs]").text
    assert "captured" in css(driver, "[data-test=history]").text or \
        all_css(driver, "[data-test=history] li")
    # Relative time with the exact time on hover.
    t = css(driver, ".fields time")
    assert t.get_attribute("title") and "ago" in t.text


def test_retry(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.retry_"), 1)
    sign_in(driver, server)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=retry]").click()
    dialog_submit(driver)
    wait(driver, lambda d: server.admin.entry(dlq_id)["status"] == "retried", what="retried")
    css(driver, ".status-retried")
    assert "replayed" in history_events(server.admin, dlq_id)


def test_force_redrive(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.force_"), 1)
    sign_in(driver, server)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=force-redrive]").click()
    # No reason: refused in the page, nothing sent.
    css(driver, "dialog[open] [data-test=dialog-submit]").click()
    assert "reason is required" in css(driver, "dialog[open] .error").text
    assert server.admin.entry(dlq_id)["status"] == "pending_review"
    css(driver, "dialog[open] textarea[name=reason]").send_keys("fixed in #812")
    css(driver, "dialog[open] input[name=ticket_url]").send_keys("https://tickets.example/812")
    dialog_submit(driver)
    wait(driver, lambda d: "force_redriven" in history_events(server.admin, dlq_id),
         what="force_redriven in the history")
    audit = server.admin.get("/api/v1/audit", params={"target": dlq_id}).json()["items"]
    assert audit[0]["action"] == "force_redrive"
    assert audit[0]["ticket_url"] == "https://tickets.example/812"


def test_edit_and_replay(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.edit_"), 1)
    sign_in(driver, server)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=edit-replay]").click()
    kw = css(driver, "dialog[open] textarea[name=task_kwargs]")
    kw.clear()
    kw.send_keys('{"row": 0, "format": ')  # broken JSON
    assert "not valid JSON" in css(driver, "[data-test=kwargs-error]").text
    css(driver, "dialog[open] [data-test=dialog-submit]").click()
    assert "nothing was sent" in css(driver, "dialog[open] p.error[role=alert]").text
    assert server.admin.entry(dlq_id)["status"] == "pending_review"
    kw.clear()
    kw.send_keys('{"row": 0, "format": "csv"}')
    wait(driver, lambda d: not css(d, "[data-test=kwargs-error]", 1).is_displayed()
         if all_css(d, "[data-test=kwargs-error]:not([hidden])") else True, what="valid JSON")
    dialog_submit(driver)
    wait(driver, lambda d: server.admin.entry(dlq_id)["status"] == "retried", what="retried")
    e = server.admin.entry(dlq_id)
    assert '"csv"' in e["task_kwargs"]
    edited = [h for h in e["history"] if h["event"] == "edited"]
    assert edited and "task_kwargs" in edited[0]["details"]["changes"]


def test_resolve_with_notes(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.resolve_"), 1)
    sign_in(driver, server)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=resolve]").click()
    css(driver, "dialog[open] textarea[name=resolution_notes]").send_keys("re-imported by hand")
    dialog_submit(driver)
    wait(driver, lambda d: server.admin.entry(dlq_id)["status"] == "resolved", what="resolved")
    assert server.admin.entry(dlq_id)["resolution_notes"] == "re-imported by hand"
    css(driver, ".status-resolved")


def test_discard_after_confirmation(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.discard_"), 1)
    sign_in(driver, server)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=discard]").click()
    css(driver, "dialog[open] [data-test=dialog-cancel]").click()
    time.sleep(0.2)
    assert server.admin.entry(dlq_id)["status"] == "pending_review"
    css(driver, "[data-test=discard]").click()
    dialog_submit(driver)
    wait(driver, lambda d: server.admin.entry(dlq_id)["status"] == "discarded", what="discarded")


def test_api_problem_is_shown(server, driver):
    """A refused action shows the server's problem detail in the dialog."""
    [dlq_id] = seed(server.admin, uid("app.tasks.conflict_"), 1)
    sign_in(driver, server)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=retry]").click()
    server.admin.post(f"{ENTRIES}/{dlq_id}/resolve", {})  # someone else was faster
    css(driver, "dialog[open] [data-test=dialog-submit]").click()
    msg = css(driver, "dialog[open] p.error[role=alert]").text
    assert "resolved" in msg and "only a pending_review entry can be retried" in msg


def test_bulk_dry_run_then_replay_to_completion(server, driver):
    task = uid("app.tasks.bulk_")
    ids = seed(server.admin, task, 5, exc="TimeoutError")
    sign_in(driver, server, page=f"#/failures?task_name={task}")
    assert len(table_rows(driver)) == 5
    css(driver, "[data-test=bulk-replay-filter]").click()
    css(driver, "dialog[open] [data-test=dialog-submit]").click()  # before the dry run: refused
    assert "dry run first" in css(driver, "dialog[open] p.error[role=alert]").text
    css(driver, "[data-test=dry-run]").click()
    assert css(driver, "[data-test=dry-run-matched]").text.startswith("5 entries")
    assert task in css(driver, "[data-test=dry-run-result]").text
    assert "TimeoutError" in css(driver, "[data-test=dry-run-result]").text
    assert server.admin.total(task_name=task, status="pending_review") == 5  # dry: nothing moved
    rate = css(driver, "dialog[open] input[name=rate_per_second]")
    rate.clear()
    rate.send_keys("50")
    wait_s = css(driver, "dialog[open] input[name=outcome_timeout_s]")
    wait_s.clear()
    wait_s.send_keys("0")
    dialog_submit(driver)
    wait(driver, lambda d: "#/operation/op_" in d.current_url, what="the operation page")
    wait(driver, lambda d: css(d, "[data-test=op-state]").text == "done", 30, what="done")
    assert "5 of 5 taken" in css(driver, "[data-test=op-progress]").text
    for i in ids:
        assert server.admin.entry(i)["status"] == "retried"


def test_bulk_cancel_a_running_operation(server, driver):
    task = uid("app.tasks.cancel_")
    seed(server.admin, task, 30)
    sign_in(driver, server, page=f"#/failures?task_name={task}")
    table_rows(driver)
    css(driver, "[data-test=bulk-replay-filter]").click()
    css(driver, "[data-test=dry-run]").click()
    css(driver, "[data-test=dry-run-matched]")
    for name, value in (("rate_per_second", "1"), ("batch_size", "1"), ("outcome_timeout_s", "0")):
        box = css(driver, f"dialog[open] input[name={name}]")
        box.clear()
        box.send_keys(value)
    dialog_submit(driver)
    css(driver, "[data-test=op-cancel]", 15).click()
    dialog_submit(driver)
    wait(driver, lambda d: css(d, "[data-test=op-state]").text == "cancelled", 30, what="cancelled")
    assert server.admin.total(task_name=task, status="pending_review") > 0


def test_bulk_resolve_selected_and_discard_by_filter(server, driver):
    task = uid("app.tasks.sel_")
    seed(server.admin, task, 4)
    sign_in(driver, server, page=f"#/failures?task_name={task}")
    rows = table_rows(driver)
    for r in rows[:2]:
        r.find_element(By.CSS_SELECTOR, ".row-select").click()
    assert css(driver, "[data-test=selected-count]").text == "2 selected"
    css(driver, "[data-test=bulk-resolve-selected]").click()
    css(driver, "dialog[open] textarea[name=notes]").send_keys("bulk fixed")
    dialog_submit(driver)
    wait(driver, lambda d: server.admin.total(task_name=task, status="resolved") == 2,
         what="2 resolved")
    goto(driver, server, f"#/failures?task_name={task}&status=pending_review")
    assert len(table_rows(driver)) == 2
    css(driver, "[data-test=bulk-discard-filter]").click()
    assert css(driver, "[data-test=bulk-confirm-count]").text.startswith("2 entries")
    dialog_submit(driver)
    wait(driver, lambda d: server.admin.total(task_name=task, status="discarded") == 2,
         what="2 discarded")


def test_viewer_sees_no_action_buttons(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.viewer_"), 1)
    viewer = server.make_token("viewer")["token"]
    sign_in(driver, server, viewer, page="#/failures")
    assert css(driver, "#who-role").text == "viewer"
    assert table_rows(driver)
    assert not all_css(driver, ".row-select")
    assert not any(e.is_displayed() for e in all_css(driver, "[data-test=bulk-bar]"))
    assert not any(e.is_displayed() for e in all_css(driver, '#nav a[data-page="audit"]'))
    open_entry(driver, server, dlq_id)
    assert not all_css(driver, "[data-test=actions] button")
    for t in ("retry", "force-redrive", "edit-replay", "resolve", "discard"):
        assert not all_css(driver, f"[data-test={t}]")


def test_operator_has_no_admin_actions(server, driver):
    [dlq_id] = seed(server.admin, uid("app.tasks.oper_"), 1)
    op = server.make_token("operator")["token"]
    sign_in(driver, server, op)
    open_entry(driver, server, dlq_id)
    css(driver, "[data-test=retry]")
    assert not all_css(driver, "[data-test=force-redrive]")


def test_tenant_token_sees_only_its_tenant(server, driver):
    tenant = uid("tn")
    mine = seed(server.admin, uid("app.tasks.tenant_"), 3, tenant=tenant)
    seed(server.admin, uid("app.tasks.tenant_"), 2, tenant=uid("other"))
    tok = server.make_token("operator", tenant=tenant)["token"]
    sign_in(driver, server, tok, page="#/failures")
    assert css(driver, "#who-tenant").text == f"tenant {tenant}"
    rows = table_rows(driver)
    assert sorted(r.get_attribute("data-id") for r in rows) == sorted(mine)
    assert {r.find_elements(By.CSS_SELECTOR, "td")[5].text for r in rows} == {tenant}
    goto(driver, server, "#/overview")
    wait(driver, lambda d: css(d, "[data-test=pending] .big").text == "3", what="tenant stats")


def test_sign_out_and_401_brings_sign_in_back(server, driver):
    tok = server.make_token("viewer")
    sign_in(driver, server, tok["token"])
    css(driver, "#sign-out").click()
    css(driver, "#signin-token")
    assert driver.execute_script("return sessionStorage.getItem('dlq.token')") is None
    driver.refresh()
    css(driver, "#signin-token")
    # A revoked token: the next API answer is 401 and the sign-in comes back.
    sign_in(driver, server, tok["token"], page="#/failures")
    table_rows(driver)
    assert server.admin.delete(f"/api/v1/tokens/{tok['id']}").status_code == 204
    goto(driver, server, "#/groups")
    msg = css(driver, "#signin-error").text
    assert msg.startswith("Signed out:")
    # And a wrong token is refused with the server's words.
    css(driver, "#signin-token").send_keys("nope")
    css(driver, "#signin-submit").click()
    assert "Sign-in refused" in css(driver, "#signin-error").text


def test_pages_groups_queues_alerts_audit(server, driver):
    task = uid("app.tasks.pages_")
    seed(server.admin, task, 2)
    sign_in(driver, server, page="#/groups")
    link = [a for a in wait(driver, lambda d: all_css(d, "[data-test=group-link]"), what="groups")
            if a.text == task][0]
    link.click()
    wait(driver, lambda d: "fingerprint=" in d.current_url, what="click-through")
    assert len(table_rows(driver)) == 2
    queue = uid("dashq")
    enq = server.admin.post(f"/api/v1/queues/{queue}/jobs", {"task_name": task})
    goto(driver, server, "#/queues")
    wait(driver, lambda d: all_css(d, "[data-test=queues], [data-test=queues-missing], .empty"),
         what="the queues page")
    css(driver, "[data-test=queue-pending]")
    if enq.status_code == 201:  # the job queue (issue 4) is in this build
        assert queue in css(driver, "[data-test=queues]").text
    else:
        assert "no job-queue endpoint" in css(driver, "[data-test=queues-missing]").text
    goto(driver, server, "#/alerts")
    assert "pending_age" in css(driver, "[data-test=alerts]").text
    goto(driver, server, "#/audit?action=resolve")
    wait(driver, lambda d: all_css(d, "[data-test=audit], .empty"), what="the audit page")
    assert css(driver, "#aud-action").get_attribute("value") == "resolve"


def test_queue_pause_resume_and_settings(server, driver):
    queue = uid("dashq")
    enq = server.admin.post(f"/api/v1/queues/{queue}/jobs", {"task_name": "app.tasks.q"})
    assert enq.status_code == 201, enq.text  # the job queue (issue 4) is part of dlq
    sign_in(driver, server, page="#/queues")

    def row():
        rows = [r for r in all_css(driver, "[data-test=queues] tbody tr") if queue in r.text]
        return rows[0] if rows else None

    def click(test):
        btn = wait(driver, lambda d: row() and row().find_elements(By.CSS_SELECTOR,
                                                                   f"[data-test={test}]"),
                   what=f"the queue's {test} button")
        btn[0].click()

    def item():
        return server.admin.get(f"/api/v1/queues/{queue}").json()

    click("queue-pause")
    wait(driver, lambda d: item()["paused"] is True, what="paused")
    click("queue-resume")
    wait(driver, lambda d: item()["paused"] is False, what="resumed")
    click("queue-settings")
    box = css(driver, "dialog[open] input[name=max_replays]")
    box.clear()
    box.send_keys("7")
    dialog_submit(driver)
    wait(driver, lambda d: item()["max_replays"] == 7, what="max_replays 7")


def test_keyboard_only_sign_in_and_open(server, driver):
    task = uid("app.tasks.kbd_")
    seed(server.admin, task, 1)
    driver.get(server.base + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(server.base + f"/#/failures?task_name={task}")
    driver.refresh()
    box = css(driver, "#signin-token")
    assert driver.switch_to.active_element == box
    box.send_keys(ADMIN_SECRET, Keys.ENTER)
    rows = table_rows(driver)
    link = rows[0].find_element(By.CSS_SELECTOR, ".task-link")
    link.send_keys(Keys.ENTER)
    css(driver, "[data-test=retry]").send_keys(Keys.ENTER)
    css(driver, "dialog[open]")
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(driver, lambda d: not all_css(d, "dialog[open]"), what="Escape closes the dialog")


@pytest.fixture
def phone():
    from conftest import make_driver
    drv = make_driver(390, 844)
    yield drv
    drv.quit()


def test_phone_viewport(server, phone):
    task = uid("app.tasks.phone_")
    seed(server.admin, task, 2)
    sign_in(phone, server, page=f"#/failures?task_name={task}")
    rows = table_rows(phone)
    assert len(rows) == 2
    width = phone.execute_script("return document.documentElement.scrollWidth")
    inner = phone.execute_script("return window.innerWidth")
    assert width <= inner, f"the page scrolls sideways on a phone: {width} > {inner}"
