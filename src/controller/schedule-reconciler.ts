import type { ControllerContext } from './context.ts';
import type { ReconcileResult } from './work-queue.ts';

export async function reconcileSchedule(_ctx: ControllerContext, _name: string): Promise<ReconcileResult> {
  return undefined;
}
