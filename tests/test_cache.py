"""The one cache: content-hash keys, hit after miss, bad entries remade, events recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekd.cache import Cache, cache_key, cache_root, load_npz, save_npz


def test_miss_then_hit_returns_what_was_saved_and_records_both(tmp_path):
    events: list[dict] = []
    cache = Cache(tmp_path, record=events.append)
    calls = []

    def make() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}

    first, hit1 = cache.get_or_make("things", ["a", b"b"], make, load_npz, save_npz, ".npz")
    second, hit2 = cache.get_or_make("things", ["a", b"b"], make, load_npz, save_npz, ".npz")
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])
    assert [e["hit"] for e in events] == [False, True] and events[0]["kind"] == "things"
    (entry,) = (tmp_path / "things").iterdir()
    assert entry.name == cache_key(["a", b"b"]) + ".npz"  # exactly that name: no numpy suffix
    assert not list(tmp_path.rglob("*.part"))


def test_keys_depend_on_every_part_and_its_boundaries():
    assert cache_key(["ab", "c"]) != cache_key(["a", "bc"])
    assert cache_key(["a"]) == cache_key([b"a"]) and len(cache_key(["a"])) == 32


def test_an_unreadable_entry_is_made_again(tmp_path):
    cache = Cache(tmp_path)
    path = cache.path("things", ["k"], ".npz")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")
    value, hit = cache.get_or_make(
        "things", ["k"], lambda: {"x": np.ones(2)}, load_npz, save_npz, ".npz"
    )
    assert not hit and value["x"].tolist() == [1.0, 1.0]


def test_root_comes_from_the_recipe_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKD_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(Path("~/x")) == Path.home() / "x"
