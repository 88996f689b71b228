"""Opens the docs page in headless Chromium (playwright driving the system's browser), runs
"Try it out" on one operation and prints the request URL and the status the page shows.

Usage: try_it_out.py <docs URL> <operation element id> <chromium executable>
"""

import sys

from playwright.sync_api import sync_playwright

url, operation, chromium = sys.argv[1:4]
block = f"#{operation}"
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector(block, timeout=20_000)
    page.click(f"{block} .opblock-summary")
    page.click(f"{block} .try-out__btn")
    page.click(f"{block} .execute")
    status = f"{block} .live-responses-table tbody .response-col_status"
    page.wait_for_selector(status, timeout=20_000)
    print(page.inner_text(f"{block} .request-url .microlight").strip())
    print(page.inner_text(status).strip())
    browser.close()
