/**
 * The worker side of {@linkcode sweep}: runs sweep tasks sent by
 * `runTasks` (sim/pool.ts) and posts their tallies back.
 *
 * @module
 */
import { serveTasks } from "./pool.ts";
import { runSweepTask, type SweepPlan, type SweepTask } from "./sweep.ts";

serveTasks<SweepPlan, SweepTask, ReturnType<typeof runSweepTask>>(runSweepTask);
