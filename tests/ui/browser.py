"""A real browser for the UI tests: Debian's Chromium driven by Playwright (PyPI), never a downloaded
browser (the drivers' own downloads are not reachable here; `make ui-deps` installs Chromium).

Helpers address the Prefect UI's parameter form by each field's visible label, as a user reads it,
and save a screenshot per step so a failure shows what the page looked like."""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("TRANSFER_LAWS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def browser_page(width: int = 1400, height: int = 1000, http_credentials: dict | None = None):
    """One headless page of the system Chromium; a clear error (and the fix) when it is missing.
    `http_credentials` ({username, password, origin}) answer a server's Basic-auth challenge, as a
    user types them into the browser's own dialog (MLflow's basic-auth app asks that way)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run `make ui-deps` (Debian's chromium and "
                           "chromium-driver), or set TRANSFER_LAWS_CHROMIUM to a Chromium binary")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          http_credentials=http_credentials)
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


class Shots:
    """Numbered screenshots of each step in one folder (the test's own, or $UI_SCREENSHOTS)."""

    def __init__(self, folder: Path):
        self.folder = Path(os.environ.get("UI_SCREENSHOTS") or folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, page, name: str, full_page: bool = False) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


def field(page, label: str):
    """The Prefect form property whose own label is `label` (shown with or without " (Optional)")."""
    name = f"normalize-space()='{label}' or normalize-space()='{label} (Optional)'"
    return page.locator(
        "xpath=//div[contains(concat(' ', @class, ' '), ' schema-form-property ')]"
        "[./div[contains(@class, 'p-label__header')]"
        f"//span[contains(@class, 'schema-form-property__label')][{name}]]")


def label_of(key: str) -> str:
    """The label Prefect's form gives a field of a pydantic model: `finetune_tokens` -> "Finetune
    Tokens" (its schema title); a flow's own parameters keep their names."""
    return key.replace("_", " ").title()


def fill(page, key: str, value, label: str | None = None) -> None:
    """Fill one form field the way a user would: type text, add list items, flip a switch, pick a
    union's type tab ("int", "str"), choose a select's option."""
    box = field(page, label or label_of(key))
    tabs = box.locator(".p-button-group").first
    if isinstance(value, list):
        for i, item in enumerate(value):
            box.get_by_role("button", name="Add item").click()
            box.locator("input[type=number]").nth(i).fill(str(item))
        return
    if isinstance(value, dict):  # a JSON field (e.g. sources): its code editor
        box.locator("textarea").first.fill(json.dumps(value))
        return
    if isinstance(value, bool) and not tabs.count():  # a switch
        box.get_by_role("switch").or_(box.get_by_role("checkbox")).first.set_checked(value, force=True)
        return
    if tabs.count():  # a union (int | str, str | None): pick the value's type first
        kind = {bool: "bool", int: "int", float: "float", str: "str"}[type(value)]
        tabs.get_by_role("button", name=kind, exact=True).click()
    select = box.locator("button.p-select-button__control")
    if select.count():  # opens from the keyboard (a synthetic click toggles it shut again)
        select.focus()
        page.keyboard.press("ArrowDown")
        page.get_by_role("option", name=str(value), exact=True).click()
    elif box.locator("input[type=number]").count():
        box.locator("input[type=number]").first.fill(str(value))
    else:
        box.locator("textarea").first.fill(str(value))
