"""Debian's headless Chromium driven by Selenium through Debian's chromedriver (no browser
download): what the desk's end-to-end tests see and click."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    "--lang=zh-CN",
)


def missing_browser() -> str | None:
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            return f"apt-get install -y {pkg}  (for {path})"
    return None


class Browser:
    def __init__(self, profile: Path, shots: Path, extra_flags: tuple[str, ...] = ()) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, *extra_flags, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def el(self, element_id: str) -> Any:
        return self.driver.find_element(By.ID, element_id)

    def type(self, element_id: str, text: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def sign_in(self, url: str, username: str, password: str) -> None:
        """Open a page and sign in on its form (every page has the same one)."""
        self.open(url)
        self.type("username", username)
        self.type("password", password)
        self.click("login-button")

    def click(self, element_id: str) -> None:
        self.el(element_id).click()

    def css(self, selector: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def present(self, element_id: str) -> bool:
        return bool(self.driver.find_elements(By.ID, element_id))

    def text(self, element_id: str) -> str:
        return str(self.el(element_id).text)

    def wait(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                self.shot(f"timeout-{what}")
                raise AssertionError(f"the page did not show {what} within {timeout:g} s")
            time.sleep(0.05)

    def untranslated(self) -> list[str]:
        """Elements whose text is still their translation key: a missing entry (in Chinese;
        some English words are their own keys)."""
        keys = self.driver.execute_script(
            "return [...document.querySelectorAll('[data-i18n]')]"
            ".filter(e => e.textContent.trim() === e.dataset.i18n).map(e => e.dataset.i18n)"
        )
        return list(keys)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console(self) -> list[dict[str, Any]]:
        try:
            return list(self.driver.get_log("browser"))
        except Exception:
            return []

    def close(self) -> None:
        self.driver.quit()
