"""An interrupted run continues from its last finished stage and epoch checkpoint."""

import pytest

from edgekd.pipeline.compress import compress
from edgekd.progress import NullReporter
from edgekd.recipe.load import load_recipe


class InterruptDistillation(NullReporter):
    """Raises KeyboardInterrupt (as Ctrl-C would) after epoch 2 of the distillation."""

    def task(self, description, total):
        outer = super().task(description, total)

        class T:
            def update(self, completed, info=""):
                if description == "distill student" and completed == 2:
                    raise KeyboardInterrupt
                outer.update(completed, info)

            def close(self):
                outer.close()

        return T()


@pytest.mark.slow
def test_resume_continues_an_interrupted_distillation(tmp_path):
    r = load_recipe(
        None,
        [
            "teacher.fit.epochs=2",
            "teacher.width=4",
            "distill.epochs=4",
            "targets.measure=false",
            "targets.names=[]",
        ],
    )
    with pytest.raises(KeyboardInterrupt):
        compress(r, out_dir=tmp_path, reporter=InterruptDistillation())
    (run,) = tmp_path.iterdir()
    assert (run / "checkpoints" / "student.pt").is_file()
    assert not (run / "student.safetensors").exists()  # no half result that looks whole

    result = compress(r, out_dir=tmp_path, resume=True)
    assert result.run_dir == run
    m = result.manifest
    assert m["status"] == "complete"
    student = next(a for a in m["artifacts"] if a["id"] == "student")
    assert len(student["extra"]["history"]["train_loss"]) == 4  # 2 before + 2 after resuming
    # the passes that finished before the interrupt were skipped, not run again
    assert m["attempts"][-1]["skipped"] == ["data", "teacher", "teacher_outputs"]
    assert m["stages"]["teacher_outputs"]["attempt"] == 1 and m["stages"]["distill"]["attempt"] == 2


def test_resume_without_an_unfinished_run_is_a_usage_error(tmp_path):
    from edgekd.errors import UsageError

    with pytest.raises(UsageError, match="--resume: no unfinished run"):
        compress(load_recipe(None), out_dir=tmp_path, resume=True)
