"""The recipe schema: one frozen pydantic model per section, unknown keys rejected.

Each section's model lives with the stage that uses it; this module only assembles them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgekd.config import Section
from edgekd.data.config import DataConfig
from edgekd.distill.config import DistillConfig
from edgekd.evaluate.config import EvaluateConfig
from edgekd.export.config import ExportConfig
from edgekd.models.config import StudentConfig, TeacherConfig
from edgekd.profile.config import TargetsConfig
from edgekd.prune.config import PruneConfig
from edgekd.quantize.config import QuantizeConfig
from edgekd.recipe.output import OutputConfig
from edgekd.report.config import ReportConfig


class Recipe(Section):
    """A whole compression recipe. Every section has defaults; ``Recipe()`` is valid."""

    task: Literal["classification", "causal_lm"] = Field(
        "classification",
        description="causal_lm: a language-model student (hf: teacher and student) learns "
        "from a completions dataset (data.source: completions) through distill.lm",
    )
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    teachers: list[TeacherConfig] = Field(
        default_factory=list,
        description="more teachers, after `teacher`, for distill.method: multi_teacher",
    )
    student: StudentConfig = StudentConfig()
    distill: DistillConfig = DistillConfig()
    prune: PruneConfig = PruneConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    export: ExportConfig = ExportConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    targets: TargetsConfig = TargetsConfig()
    report: ReportConfig = ReportConfig()
    output: OutputConfig = OutputConfig()
    threads: int = Field(
        1,
        ge=0,
        description="torch CPU threads for training and torch evaluation (0: one per core); "
        "1 is fastest for edgekd's small models (benchmarks/demo_time.py)",
    )

    @model_validator(mode="after")
    def _task_matches_data(self) -> Recipe:
        completions = self.data.source == "completions"
        if self.task == "causal_lm" and not completions:
            raise ValueError(
                f"data.source: task causal_lm learns from a completions dataset "
                f"(data.source: completions, data.path: DATASET.jsonl), got {self.data.source!r}"
            )
        if completions and self.task != "causal_lm":
            raise ValueError(
                "data.source: completions trains a language-model student; set task: causal_lm"
            )
        if completions and self.data.path is None:
            raise ValueError("data.path: data.source completions needs the dataset's JSONL file")
        if self.task == "causal_lm" and self.teachers:
            raise ValueError("teachers: task causal_lm distills from one teacher (teacher.model)")
        return self

    @model_validator(mode="after")
    def _teachers_match_method(self) -> Recipe:
        n = 1 + len(self.teachers)
        weights = self.distill.multi_teacher.weights
        if self.teachers and self.distill.method != "multi_teacher":
            raise ValueError(
                "teachers: more than one teacher needs distill.method: multi_teacher "
                f"(got {self.distill.method!r})"
            )
        if weights is not None and len(weights) != n:
            raise ValueError(
                f"distill.multi_teacher.weights has {len(weights)} entries but there are {n} "
                f"teachers (`teacher` plus {len(self.teachers)} in `teachers`); "
                "give one weight per teacher"
            )
        return self
