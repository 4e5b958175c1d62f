"""The batch plan (SPEC §5), including the seed's worked example."""

from __future__ import annotations

import numpy as np
import pytest

from cryolike_hydra.core.errors import ConfigError
from cryolike_hydra.core.particles import make_table
from cryolike_hydra.plan.batching import plan_stacks


def _table(files_and_counts: list[tuple[str, int]], voltage: list[float] | None = None):
    files = [name for name, count in files_and_counts for _ in range(count)]
    index = [i for _, count in files_and_counts for i in range(count)]
    n = len(files)
    return make_table(
        n, "meta.star", source_file=files, source_index=index, defocus_u=1e4, defocus_v=1e4, defocus_angle=0.0,
        voltage=voltage if voltage is not None else 300.0, spherical_aberration=2.7,
    )


def _layout(plan, table):
    """[(file, count), ...] per stack, e.g. [[('ONE', 7), ('TWO', 2), ('THREE', 1)], [('THREE', 5)]]."""
    out = []
    for stack in plan.stacks:
        files = table.source_file[stack.rows]
        names, starts = np.unique(files, return_index=True)
        order = np.argsort(starts)
        out.append([(str(names[i]), int((files == names[i]).sum())) for i in order])
    return out


SEED = [("ONE", 7), ("TWO", 2), ("THREE", 6)]


def test_seed_example_restack_batch_10():
    table = _table(SEED)
    plan = plan_stacks(table, 10, "restack")
    assert _layout(plan, table) == [[("ONE", 7), ("TWO", 2), ("THREE", 1)], [("THREE", 5)]]
    assert [s.counter for s in plan.stacks] == [0, 1]
    assert plan.images_left == 0


def test_seed_example_per_file_batch_10():
    table = _table(SEED)
    plan = plan_stacks(table, 10, "per_file")
    assert _layout(plan, table) == [[("ONE", 7)], [("TWO", 2)], [("THREE", 6)]]
    assert [s.counter for s in plan.stacks] == [0, 1, 2]


def test_seed_example_per_file_batch_5_gives_five_stacks():
    table = _table(SEED)
    plan = plan_stacks(table, 5, "per_file")
    assert [len(s.rows) for s in plan.stacks] == [5, 2, 2, 5, 1]
    assert _layout(plan, table)[1] == [("ONE", 2)]


def test_rows_keep_input_order_and_cover_every_image():
    table = _table(SEED)
    plan = plan_stacks(table, 4, "restack")
    assert np.array_equal(np.concatenate([s.rows for s in plan.stacks]), np.arange(15))


def test_restack_never_mixes_optics():
    voltage = [300.0] * 6 + [200.0] * 9
    table = _table(SEED, voltage=voltage)
    plan = plan_stacks(table, 10, "restack")
    assert [len(s.rows) for s in plan.stacks] == [6, 9]
    for stack in plan.stacks:
        assert len(set(table.voltage[stack.rows])) == 1


def test_n_stacks_max_stops_and_counts_images_left():
    table = _table(SEED)
    plan = plan_stacks(table, 5, "per_file", n_stacks_max=2)
    assert [len(s.rows) for s in plan.stacks] == [5, 2]
    assert plan.images_left == 8


@pytest.mark.parametrize("bad", [0, -3])
def test_batch_size_must_be_positive(bad):
    with pytest.raises(ConfigError, match="batch_size"):
        plan_stacks(_table(SEED), bad, "restack")


def test_unknown_batching_mode_is_refused():
    with pytest.raises(ValueError, match="per_stack"):
        plan_stacks(_table(SEED), 5, "per_stack")
