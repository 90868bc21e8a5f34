"""The recipe schema: one frozen pydantic model per section, unknown keys rejected.

Each section's model lives with the stage that uses it; this module only assembles them.
"""

from __future__ import annotations

from edgekd.data.config import DataConfig
from edgekd.distill.config import DistillConfig
from edgekd.evaluate.config import EvaluateConfig
from edgekd.export.config import ExportConfig
from edgekd.models.config import StudentConfig, TeacherConfig
from edgekd.pipeline.config import OutputConfig
from edgekd.profile.config import TargetsConfig
from edgekd.prune.config import PruneConfig
from edgekd.quantize.config import QuantizeConfig
from edgekd.recipe.base import Section
from edgekd.report.config import ReportConfig


class Recipe(Section):
    """A whole compression recipe. Every section has defaults; ``Recipe()`` is valid."""

    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    distill: DistillConfig = DistillConfig()
    prune: PruneConfig = PruneConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    export: ExportConfig = ExportConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    targets: TargetsConfig = TargetsConfig()
    report: ReportConfig = ReportConfig()
    output: OutputConfig = OutputConfig()
