/** The role accounts as real system users: shared with `npm run demo` (src/demo/role-accounts.ts). */
export { ensureRoleAccounts, type RoleAccountsStatus } from '../../src/demo/role-accounts.js';
