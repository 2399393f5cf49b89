import { AccountUseService } from './account-use.js';
import { BreakGlassService } from './break-glass.js';
import { GroupAdminService } from './groups.js';
import { AccessRequestService } from './requests.js';
import { CheckoutSweeper } from './sweep.js';
import type { AccessDependencies } from './types.js';

export { AccountUseService, type CheckedOutSecret } from './account-use.js';
export { BreakGlassService } from './break-glass.js';
export { GroupAdminService } from './groups.js';
export { AccessRequestService } from './requests.js';
export { CheckoutSweeper, SYSTEM_ACTOR, type SweepResult } from './sweep.js';
export * from './types.js';

/** The services of the access workflow, sharing one set of dependencies. */
export interface AccessWorkflow {
  groups: GroupAdminService;
  requests: AccessRequestService;
  use: AccountUseService;
  breakGlass: BreakGlassService;
  sweeper: CheckoutSweeper;
}

export function createAccessWorkflow(deps: AccessDependencies): AccessWorkflow {
  const sweeper = new CheckoutSweeper(deps);
  return {
    groups: new GroupAdminService(deps),
    requests: new AccessRequestService(deps),
    use: new AccountUseService(deps, sweeper),
    breakGlass: new BreakGlassService(deps),
    sweeper,
  };
}
