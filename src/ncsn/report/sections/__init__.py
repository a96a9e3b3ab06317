"""One builder per section of the report, in the poster's order; each reads only the files of results/
that ncsn.report.inputs lists and returns a Section, or None when its part of the study is not in the
config (never because a file is missing: build_report refuses to start without them)."""

from ncsn.report.sections.calibration import calibration_section
from ncsn.report.sections.data import data_section
from ncsn.report.sections.fashion import fashion_section
from ncsn.report.sections.provenance import provenance_section
from ncsn.report.sections.samplers import samplers_section
from ncsn.report.sections.stability import stability_section
from ncsn.report.sections.sweep import sweep_section
from ncsn.report.sections.toy import mixing_section, objective_cost_section, score_field_section

BUILDERS = [
    data_section,
    calibration_section,
    score_field_section,
    mixing_section,
    objective_cost_section,
    stability_section,
    sweep_section,
    fashion_section,
    samplers_section,
    provenance_section,
]
