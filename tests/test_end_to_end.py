"""The whole DAG at the tiny profile, through the real Snakemake CLI, then the report in a real browser."""

from __future__ import annotations

import html as html_text
import json
import re
import shutil
import subprocess
from collections import Counter

import pytest

pytestmark = pytest.mark.slow

# The poster's sections in its order, as config/tiny.yaml builds them.
SECTIONS = [
    "Data",
    "Measurement noise",
    "Toy: score field on a circle",
    "Toy: mixing on two modes",
    "Toy: cost of the objectives",
    "MNIST: stability and EMA (Table 1)",
    "Sampler hyperparameters (Figure 1)",
    "Fashion-MNIST: class collapse (Figure 2)",
    "Beyond the poster: faster samplers",
    "Provenance",
]
VERDICTS = {"reproduced", "not reproduced", "partly reproduced", "inconclusive", "not comparable"}
SUMMARY = "Summary: the poster's numbers beside ours"
# The tables (files named after their captions) and figures the tiny profile's report holds, and the
# poster's claims it judges, per section.
TABLES = {
    "datasets_used",
    "package_versions",
    "score_error_by_noise_level_and_distance_band",
    "weight_of_the__5__5__mode_per_score_and_sampler",
    "time_and_memory_per_objective_and_dimension",
    "exact_score__mean_weight_error_per_sampler_and_nfe",
    "dsm_loss_per_epoch__mnist_variants__per_pixel",
    "table_1__the_poster_s_numbers_beside_ours",
    "fid__kid_and_pixel_variation_per__epsilon__t",
    "class_histogram_of_the_samples",
    "fid_and_kid_per_sampler_and_nfe",
    "score_network_throughput_on_this_machine__rule_throughput__p",
    "wall_time_and_peak_memory_per_job__snakemake_benchmark_files",
    "wall_time_per_stage__snakemake_benchmark_files__minutes",
    "calibration_of_the_bootstrap_intervals__real_spread_of_fid__",
    "other_sampler_settings_on_one_snapshot",
}
FIGURES = {
    "field.png",
    "errors.png",
    "samples.png",
    "cost.png",
    "samplers.png",
    "table1.png",
    "table1_samples.png",
    "figure1_fid.png",
    "figure1_samples.png",
    "figure2.png",
    "figure2_shares.png",
}
CLAIMS_PER_SECTION = {
    "Toy: score field on a circle": 1,
    "Toy: mixing on two modes": 2,
    "Toy: cost of the objectives": 1,
    "MNIST: stability and EMA (Table 1)": 4,
    "Sampler hyperparameters (Figure 1)": 2,
    "Fashion-MNIST: class collapse (Figure 2)": 4,
}


def test_report_has_every_table_and_figure(tiny_study):
    reports = tiny_study / "reports" / "tiny"
    html = (reports / "index.html").read_text()
    headings = [html_text.unescape(h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", html, flags=re.S)]
    assert headings == [SUMMARY, *SECTIONS]
    tables = sorted((reports / "tables").glob("*.csv"))
    assert {t.stem for t in tables} == TABLES
    for table in tables:
        lines = table.read_text().strip().splitlines()
        assert len(lines) >= 2, f"{table.name} has no rows"
    datasets = (reports / "tables/datasets_used.csv").read_text().strip().splitlines()[1:]
    assert [row.split(",")[0] for row in datasets] == ["mnist", "fashion_mnist"]  # config/tiny.yaml's data.datasets
    figures = sorted((reports / "figures").glob("*.png"))
    assert {f.name for f in figures} == FIGURES
    for figure in figures:
        assert figure.stat().st_size > 1000, f"{figure.name} is (nearly) empty"
        assert f'src="figures/{figure.name}"' in html
    assert "Score-network throughput" in html  # the throughput rule's table, in the provenance section
    claims = json.loads((reports / "claims.json").read_text())
    assert Counter(c["section"] for c in claims) == CLAIMS_PER_SECTION
    assert all(c["verdict"] in VERDICTS and c["poster"] and c["measured"] for c in claims)
    # a CPU-scale run never claims to confirm or refute the poster
    assert {c["verdict"] for c in claims} == {"not comparable"}


def test_snakemake_report_collects_the_marked_outputs(repo, snakemake_cmd, tiny_study):
    out = tiny_study / "snakemake-report.zip"
    proc = subprocess.run(
        snakemake_cmd
        + [
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(repo / "config/tiny.yaml"),
            "--directory",
            str(tiny_study),
            "--report",
            str(out),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import zipfile

    names = zipfile.ZipFile(out).namelist()
    assert any(n.endswith("table1.png") for n in names) and any(n.endswith("figure2.png") for n in names), names[:20]


def test_rerun_with_nothing_changed_runs_no_job(repo, snakemake_cmd, tiny_study):
    proc = subprocess.run(
        snakemake_cmd
        + [
            "-n",
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(repo / "config/tiny.yaml"),
            "--directory",
            str(tiny_study),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report_reads_only_its_declared_inputs_and_refuses_to_start_without_one(repo, tiny_study, tmp_path):
    """A folder holding only ncsn.report.inputs' files builds the whole report (nothing else is read);
    with any one of them deleted the report fails naming it and its rule, and the previous report
    stays byte for byte."""
    import yaml

    from ncsn.errors import NcsnError
    from ncsn.report.build import build_report
    from ncsn.report.inputs import report_inputs

    # as the report rule passes it (JSON with sorted keys: the variants' order is the claims' order)
    config = json.loads(json.dumps(yaml.safe_load((repo / "config/tiny.yaml").read_text()), sort_keys=True))
    declared = report_inputs(config, "results")
    only = tmp_path / "declared"
    for path in declared:
        (only / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny_study / path, only / path)
    out = tmp_path / "reports" / "tiny" / "index.html"
    build_report(only / "results", config, out)
    claims = json.loads((out.parent / "claims.json").read_text())
    assert claims == json.loads((tiny_study / "reports/tiny/claims.json").read_text())
    before = {p: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}
    for victim in (
        declared[0],
        [p for p in declared if p.name == "figure2.json"][0],
        [p for p in declared if p.name == "errors.csv"][0],
    ):
        kept = (only / victim).read_bytes()
        (only / victim).unlink()
        with pytest.raises(NcsnError, match=rf"{victim.name} \(rule \w+"):
            build_report(only / "results", config, out)
        (only / victim).write_bytes(kept)
        assert {p: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()} == before
        assert not any(p.name.startswith(".") for p in out.parent.parent.iterdir())


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed (`make test` installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,2000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_report_opens_in_a_real_browser(tiny_study, browser):
    page = tiny_study / "reports" / "tiny" / "index.html"
    browser.get(page.as_uri())
    assert "NCSN reproduction" in browser.title
    images = browser.execute_script("return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])")
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"broken images: {broken}"
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('section h2')).map(h => h.textContent)"
    )
    assert sections[1:] == SECTIONS  # after the summary of claims
    # readable at a laptop's width: nothing wider than the window, with every folded table opened
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    width, inner = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls horizontally at {inner} px: {width} px wide"
    screenshot = tiny_study / "reports" / "tiny" / "screenshot.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
