"""The conda environment and the pip requirements pin the same versions."""

import yaml


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_environment_yml_mirrors_requirements(repo):
    requirements = _pins((repo / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == requirements
    assert "python=3.11" in env["dependencies"]
