"""The cloud domain's job kinds (their runners are in `tasks.py`)."""

DISCOVERY = "cloud.discovery"
WASTE_ANALYSIS = "cloud.waste_analysis"
REPORT = "cloud.report"
PIPELINES_DUE = "cloud.pipelines_due"
