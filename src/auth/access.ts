import type { Config } from '../config/schema.js';
import { ADMIN_GROUP, type User } from './user-tokens.js';

/** Kuma's `access.static` permissions. */
export type Permission = keyof Config['access']['static'];

/**
 * Static RBAC: a user holds a permission when their name is among its users or one of their groups
 * among its groups. Members of `mesh-system:admin` hold every permission.
 */
export function isAllowed(rules: Config['access']['static'], user: User, permission: Permission): boolean {
  if (user.groups.includes(ADMIN_GROUP)) return true;
  const rule = rules[permission];
  return rule.users.includes(user.name) || user.groups.some((g) => rule.groups.includes(g));
}
