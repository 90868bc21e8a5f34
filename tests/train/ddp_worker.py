"""One rank of the DDP tests, started by torchrun: fills the teacher-output cache, then trains
a digits student under ``world.collective()`` and saves what it ended with to OUT/rank<R>.pt.

    torchrun --standalone --nproc-per-node N tests/train/ddp_worker.py OUT CACHE EPOCHS

Two students: ``cnn``, the zoo CNN (BatchNorm) through ``edgekd.distill``, and ``linear``, a
BatchNorm-free MLP through ``edgekd.train.loop.fit`` under the same KD loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn


def main(out: Path, cache_dir: Path, epochs: int) -> None:
    from edgekd.cache import Cache
    from edgekd.data.config import DataConfig
    from edgekd.data.loaders import load_data
    from edgekd.distill.api import distill
    from edgekd.distill.config import DistillConfig
    from edgekd.distill.losses import kd_loss
    from edgekd.distributed import world
    from edgekd.models.config import StudentConfig
    from edgekd.models.zoo import build_model
    from edgekd.teacher.load import module_teacher
    from edgekd.teacher.outputs import teacher_outputs
    from edgekd.train.loop import fit

    torch.set_num_threads(1)
    w = world.init()
    assert w is not None, "start me with torchrun"
    data = load_data(DataConfig(source="digits"))
    torch.manual_seed(0)  # the same (untrained) teacher on every rank
    teacher = module_teacher(build_model("cnn", data.input_shape, data.num_classes, 8, 2).eval())
    calls = {"rows": 0}
    predict = teacher.predict_fn

    def counted(x: np.ndarray) -> np.ndarray:
        calls["rows"] += len(x)
        return predict(x)

    teacher.predict_fn = counted
    with world.collective():
        logits, hit = teacher_outputs(teacher, data, Cache(cache_dir))
        first_fill = calls["rows"]
        _, rerun_hit = teacher_outputs(teacher, data, Cache(cache_dir))  # a rerun: all cached
        cfg = DistillConfig(epochs=epochs, batch_size=64, lr=5e-3)
        students = {}
        result = distill(
            data, teacher, StudentConfig(arch="cnn", width=4, depth=2), cfg, teacher_logits=logits
        )
        students["cnn"] = (result.model, result.history)
        torch.manual_seed(0)
        mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        loss = kd_loss(cfg, labeled=True)
        history = fit(
            mlp, data.train, data.val, cfg.train_config(), loss=loss, teacher_logits=logits["train"]
        )
        students["linear"] = (mlp, history)
    val = torch.from_numpy(data.val.x)
    saved = {
        name: {
            "state": model.state_dict(),
            "history": hist.to_dict(),
            "val_logits": model.eval()(val).detach(),
        }
        for name, (model, hist) in students.items()
    }
    saved.update(
        teacher_rows=first_fill,
        rerun_teacher_rows=calls["rows"] - first_fill,
        cache_hit=hit,
        rerun_hit=rerun_hit,
        rows=sum(len(getattr(data, s)) for s in ("train", "val", "test")),
        world=w.describe(),
    )
    torch.save(saved, out / f"rank{w.rank}.pt")
    world.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
