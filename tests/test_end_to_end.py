"""The whole DAG at the tiny profile, through the real Snakemake CLI, then the report in a real browser."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_report_has_every_table_and_figure(tiny_study):
    reports = tiny_study / "reports"
    html = (reports / "index.html").read_text()
    assert "Summary: the poster" in html or "Provenance" in html
    tables = sorted((reports / "tables").glob("*.csv"))
    assert tables, "no tables written"
    for table in tables:
        lines = table.read_text().strip().splitlines()
        assert len(lines) >= 2, f"{table.name} has no rows"
    for figure in sorted((reports / "figures").glob("*.png")) if (reports / "figures").exists() else []:
        assert figure.stat().st_size > 1000, f"{figure.name} is (nearly) empty"
        assert f'src="figures/{figure.name}"' in html


def test_rerun_with_nothing_changed_runs_no_job(repo, snakemake_cmd, tiny_study):
    proc = subprocess.run(
        snakemake_cmd + ["-n", "--snakefile", str(repo / "Snakefile"), "--configfile", str(repo / "config/tiny.yaml"),
                         "--directory", str(tiny_study)],
        cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed (`make test` installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_report_opens_in_a_real_browser(tiny_study, browser):
    page = tiny_study / "reports" / "index.html"
    browser.get(page.as_uri())
    assert "NCSN reproduction" in browser.title
    images = browser.execute_script("return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])")
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"broken images: {broken}"
    sections = browser.execute_script("return Array.from(document.querySelectorAll('section h2')).map(h => h.textContent)")
    assert "Provenance" in sections
    screenshot = tiny_study / "reports" / "screenshot.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
