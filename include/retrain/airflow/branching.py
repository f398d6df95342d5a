"""The weekly branch skips the whole path it did not take, in one step.

Airflow's BranchPythonOperator skips only the tasks directly downstream of it; every task
further down the path not taken is skipped later by its trigger rule, one level per
scheduling pass. The scheduler makes that cheap, but `dag.test()` (the demo, the tests) sleeps
a second per level whenever no task is ready, which made a skip week mostly idle waiting
(43 of the demo's 138 s). Here the branch also skips, up front, every task the trigger rules
would skip anyway: a descendant of a skipped task whose upstream tasks are all skipped and
whose trigger rule turns "every upstream skipped" into skipped. A join such as
`record_outcome` (all_done) is never pre-skipped, nor is anything the followed path reaches.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import DownstreamTasksSkipped

# Trigger rules that resolve to SKIPPED when every upstream task is skipped (airflow.ti_deps.deps.trigger_rule_dep)
SKIPPED_WHEN_UPSTREAM_SKIPPED = frozenset({TriggerRule.ALL_SUCCESS, TriggerRule.ONE_FAILED, TriggerRule.ONE_DONE,
                                           TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS})


def also_skipped(dag, skipped: Iterable[str], followed: Iterable[str]) -> list[str]:
    """Tasks (in DAG order) the trigger rules would skip once `skipped` are skipped: pure over the graph."""
    skipped = set(skipped)
    reachable = set(followed)
    for task_id in list(reachable):
        reachable |= dag.get_task(task_id).get_flat_relative_ids(upstream=False)
    added: list[str] = []
    for task in dag.topological_sort():
        if task.task_id in skipped or task.task_id in reachable or not task.upstream_task_ids:
            continue
        if TriggerRule(task.trigger_rule) in SKIPPED_WHEN_UPSTREAM_SKIPPED and task.upstream_task_ids <= skipped:
            skipped.add(task.task_id)
            added.append(task.task_id)
    return added


class PathBranchOperator(BranchPythonOperator):
    """BranchPythonOperator that skips the whole path not taken at once (see the module doc)."""

    def skip_all_except(self, ti, branch_task_ids):
        try:
            super().skip_all_except(ti, branch_task_ids)
        except DownstreamTasksSkipped as skip:
            direct = [t[0] if isinstance(t, tuple) else t for t in skip.tasks]
            followed = [branch_task_ids] if isinstance(branch_task_ids, str) else list(branch_task_ids or [])
            rest = also_skipped(self.dag, direct, followed)
            self.log.info("Skipping the rest of the path not taken: %s", rest)
            skip.tasks = [*skip.tasks, *((t, ti.map_index) for t in rest)]
            raise
