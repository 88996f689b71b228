"""Watches a user's new orders with the browser's own EventSource (headless Chromium driven by
playwright), across a restart of the service: prints `event <id>` for each order event the
page receives, and `restart` when the service should be restarted; it reads `restarted` on
its standard input once it is.

Usage: event_source.py <service URL> <user id> <chromium executable>
"""

import json
import sys

from playwright.sync_api import sync_playwright

base, user, chromium = sys.argv[1:4]
ORDER = {"items": [{"product_id": 1, "quantity": 1}],
         "shipping": {"street": "1 Main St", "city": "Springfield", "country": "US"}}


def say(line):
    print(line, flush=True)


def place(page):
    return page.evaluate(
        """async ([user, order]) => {
            const answer = await fetch(`/users/${user}/orders`, {
                method: "POST", headers: {"content-type": "application/json"},
                body: JSON.stringify(order)});
            return (await answer.json()).id;
        }""",
        [user, ORDER])


def wait_for(page, count):
    page.wait_for_function(f"window.received.length >= {count}", timeout=30_000)


with sync_playwright() as playwright:
    browser = playwright.chromium.launch(
        executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    # Any page of the service's origin: the stream is the origin's own.
    page.goto(f"{base}/healthz")
    page.evaluate(
        """user => {
            window.received = [];
            window.source = new EventSource(`/users/${user}/orders/events`);
            window.source.addEventListener("order", event => {
                window.received.push({id: event.lastEventId, order: JSON.parse(event.data).id});
            });
            return new Promise(resolve => { window.source.onopen = resolve; });
        }""",
        user)
    first = place(page)
    wait_for(page, 1)
    say(f"placed {first}")
    say("restart")
    sys.stdin.readline()  # `restarted`: an order was placed meanwhile, before the reconnect
    wait_for(page, 2)
    third = place(page)
    wait_for(page, 3)
    say(f"placed {third}")
    for event in page.evaluate("window.received"):
        say(f"event {event['id']} {event['order']}")
    browser.close()
